// The pool's state machine with fake workers: priority, supersession, stale-result dropping, termination.
import { describe, expect, test } from 'vitest';
import type { SolveParams, SolveRequest, WorkerResponse } from '../shared/messages';
import { poolSize, SolverPool, type WorkerLike } from '../shared/pool';

class FakeWorker implements WorkerLike {
  onmessage: ((ev: { data: WorkerResponse }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  sent: SolveRequest[] = [];
  transfers: Transferable[][] = [];
  terminated = false;
  postMessage(msg: SolveRequest, transfer: Transferable[] = []): void {
    this.sent.push(msg);
    this.transfers.push(transfer);
  }
  terminate(): void {
    this.terminated = true;
  }
  ready(): void {
    this.onmessage?.({ data: { type: 'ready', solvers: ['l1', 'l0'] } });
  }
  finish(i = this.sent.length - 1): void {
    const r = this.sent[i];
    this.onmessage?.({
      data: {
        type: 'result',
        jobId: r.jobId,
        cell: r.cell,
        params: r.params,
        range: r.range ?? [0, r.trace.length],
        fitted: r.trace,
        activity: r.trace,
        reconvolution: r.trace,
        baseline: 0,
        baselineFixed: false,
        iterations: 1,
        converged: true,
        elapsedMs: 1,
        solveMs: 1,
      },
    });
  }
  fail(i = this.sent.length - 1): void {
    const r = this.sent[i];
    this.onmessage?.({
      data: { type: 'error', jobId: r.jobId, cell: r.cell, code: 'INVALID_PARAMETER', message: 'bad' },
    });
  }
}

const P: SolveParams = {
  solver: 'l1',
  tauRise: 0.02,
  tauDecay: 0.4,
  lambda: 0.5,
  fs: 30,
  filterEnabled: false,
  removeDrift: false,
  l0Lambda: 0.02,
  l0Positive: true,
  convarLambda: null,
};

function setup(size = 1, terminateAfterMs = 1000, prefetch = 1) {
  const workers: FakeWorker[] = [];
  const results: number[] = [];
  const errors: string[] = [];
  const started: number[] = [];
  let clock = 0;
  const pool = new SolverPool({
    size,
    terminateAfterMs,
    prefetch,
    now: () => clock,
    create: () => {
      const w = new FakeWorker();
      workers.push(w);
      return w;
    },
    events: {
      onResult: (r) => results.push(r.cell),
      onError: (cell, _j, code) => errors.push(`${cell}:${code}`),
      onStart: (cell) => started.push(cell),
    },
  });
  return {
    pool,
    workers,
    results,
    errors,
    started,
    tick: (ms: number) => {
      clock += ms;
    },
  };
}

const job = (cell: number, priority = 1, params = P) => ({
  cell,
  trace: new Float32Array([cell, 1, 2]),
  params,
  priority,
});

describe('SolverPool', () => {
  test('waits for ready, then runs by priority', () => {
    const { pool, workers, results, started } = setup(1);
    pool.submit(job(5, 3));
    pool.submit(job(6, 0));
    pool.submit(job(7, 1));
    expect(workers[0].sent).toHaveLength(0);
    workers[0].ready();
    expect(started).toEqual([6]);
    workers[0].finish();
    workers[0].finish();
    workers[0].finish();
    expect(results).toEqual([6, 7, 5]);
    expect(pool.pending).toBe(0);
    expect(pool.running).toBe(0);
  });

  test('transfers a copy of the trace', () => {
    const { pool, workers } = setup(1);
    workers[0].ready();
    const spec = job(1);
    pool.submit({ ...spec, range: [1, 3], fixedBaseline: 0.5 });
    const sent = workers[0].sent[0];
    expect(sent.trace).not.toBe(spec.trace);
    expect(Array.from(sent.trace)).toEqual(Array.from(spec.trace));
    expect(sent.range).toEqual([1, 3]);
    expect(sent.fixedBaseline).toBe(0.5);
    expect(workers[0].transfers[0]).toContain(sent.trace.buffer);
  });

  test('window and whole-trace jobs of one cell have separate keys', () => {
    const { pool, workers, results } = setup(1);
    workers[0].ready();
    pool.submit({ ...job(1), key: '1' });
    pool.submit({ ...job(1), key: '1:full', background: true, priority: 100 });
    pool.submit({ ...job(1, 1, { ...P, lambda: 0.7 }), key: '1' });
    expect(pool.pending).toBe(2);
    workers[0].finish(0); // superseded window: dropped; the new window goes before the background job
    expect(workers[0].sent[1].params.lambda).toBe(0.7);
    workers[0].finish(1);
    workers[0].finish(2);
    expect(results).toEqual([1, 1]);
    pool.submit({ ...job(2), key: '2:full', background: true });
    pool.cancel('2:full');
    expect(pool.pending).toBe(0);
  });

  test('background jobs leave one worker free', () => {
    const { pool, workers, started } = setup(2);
    workers.forEach((w) => w.ready());
    pool.submit({ ...job(1), key: '1:full', background: true, priority: 100 });
    pool.submit({ ...job(2), key: '2:full', background: true, priority: 100 });
    expect(pool.running).toBe(1);
    expect(pool.runningBackground).toBe(1);
    pool.submit(job(3, 0));
    expect(started).toEqual([1, 3]);
    expect(pool.pending).toBe(1);
  });

  test('ready reports the solvers of the wasm build once', () => {
    const seen: string[][] = [];
    const workers: FakeWorker[] = [];
    new SolverPool({
      size: 2,
      create: () => {
        const w = new FakeWorker();
        workers.push(w);
        return w;
      },
      events: { onReady: (s) => seen.push(s) },
    });
    workers.forEach((w) => w.ready());
    expect(seen).toEqual([['l1', 'l0']]);
  });

  test('a newer job for the same cell replaces the queued one', () => {
    const { pool, workers, results } = setup(1);
    workers[0].ready();
    pool.submit(job(1));
    pool.submit(job(2));
    pool.submit(job(2, 1, { ...P, lambda: 0.9 }));
    expect(pool.pending).toBe(1);
    workers[0].finish();
    expect(workers[0].sent[1].params.lambda).toBe(0.9);
    workers[0].finish();
    expect(results).toEqual([1, 2]);
  });

  test('results of superseded running jobs are dropped', () => {
    const { pool, workers, results } = setup(1);
    workers[0].ready();
    pool.submit(job(1));
    pool.submit(job(1, 1, { ...P, tauDecay: 0.8 }));
    workers[0].finish(0); // old result arrives: ignored, next job starts
    expect(results).toEqual([]);
    expect(workers[0].sent).toHaveLength(2);
    workers[0].finish(1);
    expect(results).toEqual([1]);
    expect(workers[0].terminated).toBe(false);
  });

  test('a long-running superseded job gets its worker replaced', () => {
    const { pool, workers, results, tick } = setup(1, 500);
    workers[0].ready();
    pool.submit(job(1));
    tick(600);
    pool.submit(job(1, 1, { ...P, lambda: 2 }));
    expect(workers[0].terminated).toBe(true);
    expect(pool.terminations).toBe(1);
    expect(workers).toHaveLength(2);
    workers[1].ready();
    expect(workers[1].sent[0].params.lambda).toBe(2);
    workers[0].finish(0); // a late message from the terminated worker changes nothing
    workers[1].finish();
    expect(results).toEqual([1]);
  });

  test('errors are reported for current jobs only', () => {
    const { pool, workers, errors } = setup(2);
    workers.forEach((w) => w.ready());
    pool.submit(job(1));
    pool.submit(job(2));
    workers[0].fail();
    expect(errors).toEqual(['1:INVALID_PARAMETER']);
    pool.submit(job(2, 1, { ...P, lambda: 3 }));
    workers[1].fail(0);
    expect(errors).toEqual(['1:INVALID_PARAMETER']);
  });

  test('a crashed worker is replaced and its job reported', () => {
    const { pool, workers, errors } = setup(1);
    workers[0].ready();
    pool.submit(job(4));
    workers[0].onerror?.({ message: 'boom' });
    expect(errors).toEqual(['4:WORKER_CRASHED']);
    expect(workers).toHaveLength(2);
  });

  test('setPriority and cancelAll', () => {
    const { pool, workers, started } = setup(1);
    pool.submit(job(1, 5));
    pool.submit(job(2, 5));
    pool.submit(job(3, 5));
    pool.setPriority(3, 0);
    workers[0].ready();
    expect(started).toEqual([3]);
    pool.cancelAll();
    expect(pool.pending).toBe(0);
    expect(pool.isCurrent('3', 3)).toBe(false);
  });

  test('prefetch: each worker holds its next interactive job, filled breadth first', () => {
    const { pool, workers, results } = setup(2, 1000, 2);
    workers.forEach((w) => w.ready());
    for (let c = 0; c < 5; c++) pool.submit(job(c, c));
    // The two most urgent jobs run side by side; each worker then holds one more.
    expect(workers.map((w) => w.sent.map((m) => m.cell))).toEqual([
      [0, 2],
      [1, 3],
    ]);
    expect(pool.pending).toBe(1);
    workers[0].finish(0); // its next job is already there; the queue refills it
    expect(workers[0].sent.map((m) => m.cell)).toEqual([0, 2, 4]);
    workers[0].finish(1);
    workers[0].finish(2);
    expect(results).toEqual([0, 2, 4]);
    expect(pool.running).toBe(1);
  });

  test('prefetch: background jobs go only to idle workers, and nothing waits behind one', () => {
    const { pool, workers, started } = setup(2, 1000, 2);
    workers.forEach((w) => w.ready());
    pool.submit({ ...job(1), key: '1:full', background: true, priority: 100 });
    pool.submit({ ...job(2), key: '2:full', background: true, priority: 100 });
    pool.submit(job(3, 0));
    pool.submit(job(4, 0));
    // Worker 0 took the background job; worker 1 keeps interactive work only.
    expect(workers[0].sent.map((m) => m.cell)).toEqual([1]);
    expect(workers[1].sent.map((m) => m.cell)).toEqual([3, 4]);
    expect(started).toEqual([1, 3, 4]);
    expect(pool.runningBackground).toBe(1);
  });

  test('prefetch: a superseded waiting job is dropped, a crash requeues the waiting one', () => {
    const { pool, workers, results, errors } = setup(1, 1000, 2);
    workers[0].ready();
    pool.submit(job(1));
    pool.submit(job(2));
    pool.submit(job(2, 1, { ...P, lambda: 0.9 })); // supersedes the job already sent
    workers[0].finish(0);
    workers[0].finish(1); // the stale answer for cell 2
    expect(results).toEqual([1]);
    expect(workers[0].sent.at(-1)?.params.lambda).toBe(0.9);
    pool.submit(job(5));
    expect(workers[0].sent.map((m) => m.cell)).toEqual([1, 2, 2, 5]);
    workers[0].onerror?.({ message: 'boom' }); // cell 2's current job crashed; 5 was waiting
    expect(errors).toEqual(['2:WORKER_CRASHED']);
    workers[1].ready();
    expect(workers[1].sent.map((m) => m.cell)).toEqual([5]);
  });

  test('parallel workers each take one job', () => {
    const { pool, workers } = setup(3);
    for (let c = 0; c < 5; c++) pool.submit(job(c));
    workers.forEach((w) => w.ready());
    expect(workers.map((w) => w.sent.length)).toEqual([1, 1, 1]);
    expect(pool.pending).toBe(2);
  });
});

test('poolSize', () => {
  expect(poolSize('?workers=3', 16)).toBe(3);
  expect(poolSize('', 8)).toBe(7);
  expect(poolSize('', 1)).toBe(1);
  expect(poolSize('', 2)).toBe(2);
  expect(poolSize('?workers=0', 4)).toBe(3);
  expect(poolSize('', undefined)).toBe(2);
});
