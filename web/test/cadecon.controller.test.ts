// The run state machine, driven by a scripted fake worker: idle -> running -> paused -> running -> complete,
// errors, stop -> partial results, reset terminating a busy worker, and messages after reset ignored.
import { describe, expect, it } from 'vitest';
import { RunController, type RunState, type WorkerLike } from '../cadecon/src/controller';
import type { IndecaRequest, IndecaResponse, IterationReport } from '../shared/indeca-protocol';

class FakeWorker implements WorkerLike {
  onmessage: ((ev: MessageEvent<IndecaResponse>) => void) | null = null;
  onerror: ((ev: ErrorEvent) => void) | null = null;
  sent: IndecaRequest[] = [];
  terminated = false;
  postMessage(msg: IndecaRequest): void {
    this.sent.push(msg);
  }
  terminate(): void {
    this.terminated = true;
  }
  reply(m: IndecaResponse): void {
    this.onmessage?.({ data: m } as MessageEvent<IndecaResponse>);
  }
}

const report = (i: number): IterationReport => ({
  iteration: i,
  tau_rise: 0.05,
  tau_decay: 0.5,
  kernel_change: 1 / i,
  activity_change: 1 / i,
  kernel_r2: 0.9,
  median_pve: 0.8,
  converged: false,
  subsets: [],
  kernel_free: [0, 1],
  kernel_fit: [0, 1],
  kernel_dt: 1 / 30,
});
const result = (partial: boolean) =>
  JSON.stringify({ num_cells: 2, num_timepoints: 3, partial, cell_indices: [0, 1], cell_errors: [] });
const input = { traces: new Float32Array(6), nCells: 2, nTime: 3, fs: 30, config: { max_iterations: 5 } };

function setup() {
  const workers: FakeWorker[] = [];
  const states: RunState[] = [];
  const done: boolean[] = [];
  const c = new RunController(
    () => {
      const w = new FakeWorker();
      workers.push(w);
      return w;
    },
    {
      state: (s) => {
        if (states[states.length - 1] !== s) states.push(s);
      },
      done: (_r, _a, stopped) => done.push(stopped),
    },
  );
  return { c, workers, states, done };
}

describe('RunController', () => {
  it('runs idle -> running -> paused -> running -> complete', () => {
    const { c, workers, states, done } = setup();
    expect(c.state).toBe('idle');
    c.start(input, 5);
    const w = workers[0];
    expect(w.sent[0]).toMatchObject({
      type: 'start',
      nCells: 2,
      nTime: 3,
      fs: 30,
      maxIterations: 5,
      configJson: '{"max_iterations":5}',
    });
    expect(c.state).toBe('running');
    // The page keeps its traces: the worker gets a copy.
    expect((w.sent[0] as { traces: Float32Array }).traces).not.toBe(input.traces);
    w.reply({ type: 'ready', engine: 'wasm' });
    w.reply({ type: 'iteration', report: report(1) });
    c.pause();
    expect(c.pending).toBe('pause');
    expect(c.state).toBe('running'); // until the worker confirms at the next boundary
    expect(w.sent.at(-1)).toEqual({ type: 'pause' });
    w.reply({ type: 'paused' });
    expect(c.state).toBe('paused');
    c.resume();
    expect(c.state).toBe('running');
    expect(w.sent.at(-1)).toEqual({ type: 'resume' });
    w.reply({ type: 'iteration', report: report(2) });
    w.reply({ type: 'progress', phase: 'final-pass', fraction: 0.5, message: 'cells' });
    expect(c.phase).toBe('final-pass');
    w.reply({ type: 'done', resultJson: result(false), activity: new Float32Array(6), stopped: false, workers: 1 });
    expect(c.state).toBe('complete');
    expect(c.reports.map((r) => r.iteration)).toEqual([1, 2]);
    expect(c.result?.partial).toBe(false);
    expect(c.engine).toBe('wasm');
    expect(states).toEqual(['running', 'paused', 'running', 'complete']);
    expect(done).toEqual([false]);
  });

  it('stop gives partial results and complete state', () => {
    const { c, workers, done } = setup();
    c.start(input, 5);
    const w = workers[0];
    w.reply({ type: 'iteration', report: report(1) });
    c.stop();
    expect(c.pending).toBe('stop');
    expect(w.sent.at(-1)).toEqual({ type: 'stop' });
    c.stop(); // idempotent
    expect(w.sent.filter((m) => m.type === 'stop')).toHaveLength(1);
    w.reply({ type: 'done', resultJson: result(true), activity: new Float32Array(6), stopped: true, workers: 1 });
    expect(c.state).toBe('complete');
    expect(c.stopped).toBe(true);
    expect(c.result?.partial).toBe(true);
    expect(done).toEqual([true]);
  });

  it('stop while paused wakes the worker and ends the run', () => {
    const { c, workers } = setup();
    c.start(input, 5);
    const w = workers[0];
    c.pause();
    w.reply({ type: 'paused' });
    c.stop();
    expect(w.sent.at(-1)).toEqual({ type: 'stop' });
    w.reply({ type: 'done', resultJson: result(true), activity: new Float32Array(6), stopped: true, workers: 1 });
    expect(c.state).toBe('complete');
  });

  it('goes to error on a worker error, and can start again', () => {
    const { c, workers } = setup();
    c.start(input, 5);
    workers[0].reply({ type: 'error', code: 'INVALID_PARAMETER', message: 'fs must be positive' });
    expect(c.state).toBe('error');
    expect(c.error).toEqual({ code: 'INVALID_PARAMETER', message: 'fs must be positive' });
    c.start(input, 5);
    expect(c.state).toBe('running');
    expect(c.error).toBeNull();
    expect(workers).toHaveLength(1); // the worker is reused
  });

  it('refuses to start twice and ignores controls that do not apply', () => {
    const { c, workers } = setup();
    c.pause();
    c.resume();
    c.stop();
    expect(workers).toHaveLength(0);
    c.start(input, 5);
    expect(() => c.start(input, 5)).toThrow(/running/);
    c.resume(); // not paused: nothing sent
    expect(workers[0].sent.map((m) => m.type)).toEqual(['start']);
  });

  it('reset terminates a busy worker and ignores its late messages', () => {
    const { c, workers } = setup();
    c.start(input, 5);
    const w = workers[0];
    w.reply({ type: 'iteration', report: report(1) });
    c.reset();
    expect(w.terminated).toBe(true);
    expect(c.state).toBe('idle');
    expect(c.reports).toEqual([]);
    w.reply({ type: 'iteration', report: report(2) });
    w.reply({ type: 'done', resultJson: result(false), activity: new Float32Array(6), stopped: false, workers: 1 });
    expect(c.state).toBe('idle');
    expect(c.result).toBeNull();
    c.start(input, 5);
    expect(workers).toHaveLength(2);
  });

  it('a stop the worker does not confirm in time ends the run from the last snapshot', () => {
    const timers: (() => void)[] = [];
    const workers: FakeWorker[] = [];
    const done: [boolean, Float32Array][] = [];
    const c = new RunController(
      () => {
        const w = new FakeWorker();
        workers.push(w);
        return w;
      },
      {
        done: (_r, a, stopped) => done.push([stopped, a]),
      },
      {
        set: (f) => {
          timers.push(f);
          return timers.length as unknown as ReturnType<typeof setTimeout>;
        },
        clear: () => {},
      },
    );
    c.start(input, 5);
    const w = workers[0];
    w.reply({ type: 'iteration', report: report(1) });
    w.reply({ type: 'snapshot', resultJson: result(true), cellStart: 0, cellEnd: 0, rows: new Float32Array(0) });
    // The final pass has done cell 1 (rows are cells x 3 frames).
    w.reply({
      type: 'snapshot',
      resultJson: result(true),
      cellStart: 1,
      cellEnd: 2,
      rows: Float32Array.from([4, 5, 6]),
    });
    w.reply({ type: 'snapshot', resultJson: result(true), cellStart: 0, cellEnd: 1, rows: Float32Array.from([1, 2]) }); // wrong size: ignored
    c.stop();
    expect(c.state).toBe('running');
    expect(timers).toHaveLength(1);
    timers[0](); // the deadline passes with the worker still inside a unit of work
    expect(w.terminated).toBe(true);
    expect(c.state).toBe('complete');
    expect(c.stopped).toBe(true);
    expect(c.result?.partial).toBe(true);
    expect(Array.from(done[0][1])).toEqual([0, 0, 0, 4, 5, 6]);
    // The terminated worker's late reply changes nothing; a new run gets a new worker.
    w.reply({ type: 'done', resultJson: result(false), activity: new Float32Array(6), stopped: true, workers: 1 });
    expect(done).toHaveLength(1);
    c.start(input, 5);
    expect(workers).toHaveLength(2);
  });

  it('a stop confirmed in time keeps the worker; one before any result is an error', () => {
    const timers: (() => void)[] = [];
    const workers: FakeWorker[] = [];
    const c = new RunController(
      () => {
        const w = new FakeWorker();
        workers.push(w);
        return w;
      },
      {},
      {
        set: (f) => {
          timers.push(f);
          return 0 as unknown as ReturnType<typeof setTimeout>;
        },
        clear: () => {
          timers.length = 0;
        },
      },
    );
    c.start(input, 5);
    c.stop();
    workers[0].reply({
      type: 'done',
      resultJson: result(true),
      activity: new Float32Array(6),
      stopped: true,
      workers: 1,
    });
    expect(timers).toHaveLength(0); // the deadline was cleared
    expect(workers[0].terminated).toBe(false);
    c.start(input, 5);
    c.stop();
    timers[0]();
    expect(c.state).toBe('error');
    expect(c.error?.code).toBe('STOPPED');
  });

  it('reports unparsable results and worker crashes as errors', () => {
    const { c, workers } = setup();
    c.start(input, 5);
    workers[0].reply({
      type: 'done',
      resultJson: '{not json',
      activity: new Float32Array(6),
      stopped: false,
      workers: 1,
    });
    expect(c.state).toBe('error');
    expect(c.error?.code).toBe('BAD_RESULT');
    c.start(input, 5);
    workers[0].onerror?.({ message: 'boom', preventDefault: () => {} } as unknown as ErrorEvent);
    expect(c.state).toBe('error');
    expect(c.error).toEqual({ code: 'WORKER_ERROR', message: 'boom' });
  });
});
