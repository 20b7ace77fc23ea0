// The page's side of the solver workers: a fixed pool that runs one job per worker, queues the rest by
// priority (visible/selected cells first), keeps only the newest job per key (a cell's window, or its
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
  job: (Job & { startedAt: number }) | null;
}

type Job = JobSpec & { jobId: number; key: string };

export interface PoolOptions {
  size: number;
  create: () => WorkerLike;
  events: PoolEvents;
  /** A superseded job that has run this long gets its worker terminated and replaced. */
  terminateAfterMs?: number;
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
  terminations = 0;

  constructor(private readonly opts: PoolOptions) {
    this.terminateAfterMs = opts.terminateAfterMs ?? 750;
    this.now = opts.now ?? (() => performance.now());
    for (let i = 0; i < Math.max(1, opts.size); i++) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  get pending(): number {
    return this.queue.length;
  }

  get running(): number {
    return this.slots.filter((s) => s.job !== null).length;
  }

  get runningBackground(): number {
    return this.slots.filter((s) => s.job?.background).length;
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
    const slot: Slot = { id: this.nextSlotId++, worker: this.opts.create(), ready: false, job: null };
    slot.worker.onmessage = (ev) => this.handle(slot, ev.data);
    slot.worker.onerror = (ev) => {
      const msg =
        ev && typeof ev === 'object' && 'message' in ev ? String((ev as { message: unknown }).message) : 'worker error';
      const job = slot.job;
      slot.job = null;
      if (job && this.isCurrent(job.key, job.jobId))
        this.opts.events.onError?.(job.cell, job.jobId, 'WORKER_CRASHED', msg, job.key);
      this.replace(slot);
    };
    return slot;
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
    const job = slot.job;
    if (!job || job.jobId !== msg.jobId) return; // a reply from before this slot's worker was reused
    slot.job = null;
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
      const job = slot.job;
      if (job && !this.isCurrent(job.key, job.jobId) && t - job.startedAt >= this.terminateAfterMs) {
        slot.job = null;
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
    for (const slot of this.slots) {
      if (!slot.ready || slot.job || this.queue.length === 0) continue;
      const bgFull = this.runningBackground >= this.maxBackground;
      let best = -1;
      for (let i = 0; i < this.queue.length; i++) {
        const q = this.queue[i];
        if (bgFull && q.background) continue;
        if (best < 0 || q.priority < this.queue[best].priority) best = i;
      }
      if (best < 0) return;
      const [job] = this.queue.splice(best, 1);
      slot.job = { ...job, startedAt: this.now() };
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
