// The page's side of the solver workers: a fixed pool that runs one job per worker (or, with `prefetch`,
// hands a worker its next interactive job before the current one returns, so the worker never waits for
// a busy page between two solves), queues the rest by priority (visible/selected cells first), keeps only the newest job per key (a cell's window, or its
// whole-trace background solve), drops results of jobs that were superseded while running, and replaces
// a worker only when a superseded job has held it too long. Background jobs never occupy every worker, so
// an interactive job always finds one soon. Workers are created through a factory so tests can drive the
// state machine with fake workers.

import defaults from '../../schemas/solver-defaults.json';
import type { SolveParams, SolveRequest, SolveResult, SolverKind, WorkerRequest, WorkerResponse } from './messages';

export interface WorkerLike {
  postMessage(msg: WorkerRequest, transfer?: Transferable[]): void;
  terminate(): void;
  onmessage: ((ev: { data: WorkerResponse }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface JobSpec {
  cell: number;
  /** Jobs with the same key supersede each other; defaults to the cell number. */
  key?: string;
  /** The whole raw trace of the cell; only [lo, hi) is solved when `range` is given. */
  trace: Float32Array;
  range?: [number, number];
  params: SolveParams;
  fixedBaseline?: number;
  /** Lower runs sooner. */
  priority: number;
  /** Runs only while another worker stays free for interactive jobs. */
  background?: boolean;
  maxIters?: number;
  wantSpectrum?: boolean;
  wantStats?: boolean;
  activityOnly?: boolean;
}

export interface PoolEvents {
  onStart?(cell: number, jobId: number, key: string): void;
  onResult?(result: SolveResult, key: string): void;
  onError?(cell: number, jobId: number, code: string, message: string, key: string): void;
  /** The first worker is up; `solvers` are the methods its wasm build provides. */
  onReady?(solvers: SolverKind[]): void;
  /** A worker failed to start (e.g. the wasm could not load); jobs stay queued. */
  onFatal?(message: string): void;
}

interface Slot {
  id: number;
  worker: WorkerLike;
  ready: boolean;
  /** Jobs sent to the worker, oldest first: it answers them in this order; the first is running. */
  jobs: (Job & { startedAt: number })[];
}

type Job = JobSpec & { jobId: number; key: string };

export interface PoolOptions {
  size: number;
  create: () => WorkerLike;
  events: PoolEvents;
  /** A superseded job that has run this long gets its worker terminated and replaced. */
  terminateAfterMs?: number;
  /**
   * Jobs a worker may hold at once (default 1). Above 1, a worker gets its next interactive job while it
   * still solves, so it starts that job without waiting for the page to take the last result; background
   * jobs are only ever sent to an idle worker. A job already sent cannot be overtaken or recalled: its
   * result is dropped if superseded, as for a running job.
   */
  prefetch?: number;
  now?: () => number;
}

export class SolverPool {
  private slots: Slot[] = [];
  private queue: Job[] = [];
  private latest = new Map<string, number>(); // key -> newest job id
  private announced = false;
  private nextJobId = 1;
  private nextSlotId = 1;
  private readonly terminateAfterMs: number;
  private readonly now: () => number;
  private readonly prefetch: number;
  terminations = 0;

  constructor(private readonly opts: PoolOptions) {
    this.terminateAfterMs = opts.terminateAfterMs ?? 750;
    this.now = opts.now ?? (() => performance.now());
    this.prefetch = Math.max(1, Math.floor(opts.prefetch ?? 1));
    for (let i = 0; i < Math.max(1, opts.size); i++) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  get pending(): number {
    return this.queue.length;
  }

  get running(): number {
    return this.slots.filter((s) => s.jobs.length > 0).length;
  }

  get runningBackground(): number {
    return this.slots.reduce((n, s) => n + s.jobs.filter((j) => j.background).length, 0);
  }

  /** Queues a solve, superseding any queued or running job with the same key. Returns the job id. */
  submit(spec: JobSpec): number {
    const jobId = this.nextJobId++;
    const key = spec.key ?? String(spec.cell);
    this.latest.set(key, jobId);
    this.queue = this.queue.filter((j) => j.key !== key);
    this.queue.push({ ...spec, key, jobId });
    this.reapStale();
    this.pump();
    return jobId;
  }

  /** Forgets the queued job of a key and ignores the result of a running one. */
  cancel(key: string): void {
    this.latest.delete(key);
    this.queue = this.queue.filter((j) => j.key !== key);
    this.reapStale();
  }

  /** Changes the priority of a cell's queued jobs (e.g. when it scrolls into view); background jobs stay behind. */
  setPriority(cell: number, priority: number): void {
    for (const j of this.queue)
      if (j.cell === cell) j.priority = j.background ? Math.max(priority, j.priority) : priority;
  }

  /** Forgets every queued job and ignores results of running ones (e.g. when new data is loaded). */
  cancelAll(): void {
    this.queue = [];
    this.latest.clear();
    this.reapStale();
  }

  /** Whether a job's result would still be used. */
  isCurrent(key: string, jobId: number): boolean {
    return this.latest.get(key) === jobId;
  }

  dispose(): void {
    for (const s of this.slots) s.worker.terminate();
    this.slots = [];
    this.queue = [];
  }

  private spawn(): Slot {
    const slot: Slot = { id: this.nextSlotId++, worker: this.opts.create(), ready: false, jobs: [] };
    slot.worker.onmessage = (ev) => this.handle(slot, ev.data);
    slot.worker.onerror = (ev) => {
      const msg =
        ev && typeof ev === 'object' && 'message' in ev ? String((ev as { message: unknown }).message) : 'worker error';
      const [job, ...waiting] = slot.jobs;
      slot.jobs = [];
      this.requeue(waiting);
      if (job && this.isCurrent(job.key, job.jobId))
        this.opts.events.onError?.(job.cell, job.jobId, 'WORKER_CRASHED', msg, job.key);
      this.replace(slot);
    };
    return slot;
  }

  /** Jobs sent to a worker that is going away, not yet started: back in the queue if still current. */
  private requeue(jobs: Job[]): void {
    // Current means no newer job of its key was submitted, so none is queued either.
    for (const j of jobs)
      if (this.isCurrent(j.key, j.jobId)) {
        const { startedAt: _, ...job } = j as Job & { startedAt?: number };
        this.queue.push(job);
      }
  }

  private replace(slot: Slot): void {
    slot.worker.onmessage = null;
    slot.worker.onerror = null;
    slot.worker.terminate();
    const idx = this.slots.indexOf(slot);
    if (idx >= 0) this.slots[idx] = this.spawn();
    this.pump();
  }

  private handle(slot: Slot, msg: WorkerResponse): void {
    if (msg.type === 'ready') {
      slot.ready = true;
      if (!this.announced) {
        this.announced = true;
        this.opts.events.onReady?.(msg.solvers ?? ['l1']);
      }
      this.pump();
      return;
    }
    if (msg.type === 'init-error') {
      this.opts.events.onFatal?.(msg.message);
      return;
    }
    const at = slot.jobs.findIndex((j) => j.jobId === msg.jobId);
    if (at < 0) return; // a reply from before this slot's worker was reused
    const job = slot.jobs[at];
    slot.jobs.splice(0, at + 1); // the worker answers in order
    if (slot.jobs.length > 0) slot.jobs[0].startedAt = this.now(); // the next one starts now
    // Hand the worker its next job before the page draws this result, so solving and drawing overlap.
    this.pump();
    if (this.isCurrent(job.key, msg.jobId)) {
      if (msg.type === 'result') this.opts.events.onResult?.(msg, job.key);
      else this.opts.events.onError?.(msg.cell, msg.jobId, msg.code, msg.message, job.key);
    }
  }

  /** Replaces workers stuck on superseded jobs, but only when the job is old enough to be worth it. */
  private reapStale(): void {
    const t = this.now();
    for (const slot of [...this.slots]) {
      const [job, ...waiting] = slot.jobs;
      if (job && !this.isCurrent(job.key, job.jobId) && t - job.startedAt >= this.terminateAfterMs) {
        slot.jobs = [];
        this.requeue(waiting);
        this.terminations++;
        this.replace(slot);
      }
    }
  }

  /** At most this many background jobs run at once: all workers but one (one when there is only one). */
  private get maxBackground(): number {
    return Math.max(1, this.slots.length - 1);
  }

  private pump(): void {
    // Breadth first: every idle worker gets a job before any worker gets a second one.
    for (let depth = 1; depth <= this.prefetch; depth++)
      for (const slot of this.slots) if (slot.ready && slot.jobs.length < depth) this.send(slot);
  }

  /** Sends the best queued job this worker may take (interactive only when it is busy), if any. */
  private send(slot: Slot): void {
    if (this.queue.length === 0) return;
    const busy = slot.jobs.length > 0;
    // Never queue behind a background solve: another worker will be free sooner.
    if (slot.jobs.some((j) => j.background)) return;
    const bgFull = busy || this.runningBackground >= this.maxBackground;
    let best = -1;
    for (let i = 0; i < this.queue.length; i++) {
      const q = this.queue[i];
      if (bgFull && q.background) continue;
      if (best < 0 || q.priority < this.queue[best].priority) best = i;
    }
    if (best < 0) return;
    const [job] = this.queue.splice(best, 1);
    slot.jobs.push({ ...job, startedAt: this.now() });
    this.opts.events.onStart?.(job.cell, job.jobId, job.key);
    // Copy so the caller keeps its matrix; the copy's buffer is transferred, not cloned again.
    const trace = job.trace.slice();
    const msg: SolveRequest = {
      type: 'solve',
      jobId: job.jobId,
      cell: job.cell,
      trace,
      range: job.range,
      params: job.params,
      fixedBaseline: job.fixedBaseline,
      maxIters: job.maxIters ?? defaults.max_iters,
      wantSpectrum: job.wantSpectrum,
      wantStats: job.wantStats,
      activityOnly: job.activityOnly,
    };
    slot.worker.postMessage(msg, [trace.buffer as ArrayBuffer]);
  }
}

/**
 * Pool size: `?workers=N` when given; otherwise one worker per hardware thread on machines with up to
 * 2 (the main thread mostly waits while cards solve), one less than the thread count above that, at most 8.
 */
export function poolSize(search: string, hardwareConcurrency: number | undefined): number {
  const q = new URLSearchParams(search).get('workers');
  const n = q === null ? NaN : Number(q);
  if (Number.isInteger(n) && n >= 1) return Math.min(n, 32);
  const hc = hardwareConcurrency && hardwareConcurrency > 0 ? hardwareConcurrency : 2;
  return Math.max(1, Math.min(8, hc <= 2 ? hc : hc - 1));
}
