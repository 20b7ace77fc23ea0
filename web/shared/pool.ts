// The page's side of the solver workers: a fixed pool that runs one job per worker, queues the rest by
// priority (visible/selected cells first), keeps only the newest job per cell, drops results of jobs that
// were superseded while running, and replaces a worker only when a superseded job has held it too long.
// Workers are created through a factory so tests can drive the state machine with fake workers.

import type { SolveParams, SolveRequest, SolveResult, WorkerRequest, WorkerResponse } from './messages';

export interface WorkerLike {
  postMessage(msg: WorkerRequest, transfer?: Transferable[]): void;
  terminate(): void;
  onmessage: ((ev: { data: WorkerResponse }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface JobSpec {
  cell: number;
  trace: Float32Array;
  params: SolveParams;
  warmState?: Float64Array;
  /** Lower runs sooner. */
  priority: number;
  maxIters?: number;
  wantSpectrum?: boolean;
}

export interface PoolEvents {
  onStart?(cell: number, jobId: number): void;
  onResult?(result: SolveResult): void;
  onError?(cell: number, jobId: number, code: string, message: string): void;
  /** A worker failed to start (e.g. the wasm could not load); jobs stay queued. */
  onFatal?(message: string): void;
}

interface Slot {
  id: number;
  worker: WorkerLike;
  ready: boolean;
  job: (JobSpec & { jobId: number; startedAt: number }) | null;
}

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
  private queue: (JobSpec & { jobId: number })[] = [];
  private latest = new Map<number, number>(); // cell -> newest job id
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

  /** Queues a solve for a cell, superseding any queued or running job for the same cell. Returns the job id. */
  submit(spec: JobSpec): number {
    const jobId = this.nextJobId++;
    this.latest.set(spec.cell, jobId);
    this.queue = this.queue.filter((j) => j.cell !== spec.cell);
    this.queue.push({ ...spec, jobId });
    this.reapStale();
    this.pump();
    return jobId;
  }

  /** Changes the priority of a cell's queued job (e.g. when it scrolls into view). */
  setPriority(cell: number, priority: number): void {
    for (const j of this.queue) if (j.cell === cell) j.priority = priority;
  }

  /** Forgets every queued job and ignores results of running ones (e.g. when new data is loaded). */
  cancelAll(): void {
    this.queue = [];
    this.latest.clear();
    this.reapStale();
  }

  /** Whether a job's result would still be used. */
  isCurrent(cell: number, jobId: number): boolean {
    return this.latest.get(cell) === jobId;
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
      const msg = ev && typeof ev === 'object' && 'message' in ev ? String((ev as { message: unknown }).message) : 'worker error';
      const job = slot.job;
      slot.job = null;
      if (job && this.isCurrent(job.cell, job.jobId)) this.opts.events.onError?.(job.cell, job.jobId, 'WORKER_CRASHED', msg);
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
    if (this.isCurrent(msg.cell, msg.jobId)) {
      if (msg.type === 'result') this.opts.events.onResult?.(msg);
      else this.opts.events.onError?.(msg.cell, msg.jobId, msg.code, msg.message);
    }
    this.pump();
  }

  /** Replaces workers stuck on superseded jobs, but only when the job is old enough to be worth it. */
  private reapStale(): void {
    const t = this.now();
    for (const slot of [...this.slots]) {
      const job = slot.job;
      if (job && !this.isCurrent(job.cell, job.jobId) && t - job.startedAt >= this.terminateAfterMs) {
        slot.job = null;
        this.terminations++;
        this.replace(slot);
      }
    }
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (!slot.ready || slot.job || this.queue.length === 0) continue;
      let best = 0;
      for (let i = 1; i < this.queue.length; i++) if (this.queue[i].priority < this.queue[best].priority) best = i;
      const [job] = this.queue.splice(best, 1);
      slot.job = { ...job, startedAt: this.now() };
      this.opts.events.onStart?.(job.cell, job.jobId);
      // Copy so the caller keeps its matrix; the copy's buffer is transferred, not cloned again.
      const trace = job.trace.slice();
      const warm = job.warmState?.slice();
      const msg: SolveRequest = {
        type: 'solve', jobId: job.jobId, cell: job.cell, trace, params: job.params, warmState: warm, maxIters: job.maxIters ?? 2000,
        wantSpectrum: job.wantSpectrum,
      };
      const transfer: Transferable[] = [trace.buffer as ArrayBuffer];
      if (warm) transfer.push(warm.buffer as ArrayBuffer);
      slot.worker.postMessage(msg, transfer);
    }
  }
}

/** Pool size: `?workers=N` when given, otherwise hardwareConcurrency - 1 (at least 1, at most 8). */
export function poolSize(search: string, hardwareConcurrency: number | undefined): number {
  const q = new URLSearchParams(search).get('workers');
  const n = q === null ? NaN : Number(q);
  if (Number.isInteger(n) && n >= 1) return Math.min(n, 32);
  const hc = hardwareConcurrency && hardwareConcurrency > 0 ? hardwareConcurrency : 2;
  return Math.max(1, Math.min(8, hc - 1));
}
