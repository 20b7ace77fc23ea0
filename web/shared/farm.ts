// Hands a batch of independent work units to helper workers and to the caller itself, for the InDeCa worker
// (web/workers/indeca.worker.ts), which spreads an iteration's segment solves and the final pass over
// replicas of its run. DOM-free and worker-free, so unit tests drive it with fake helpers.
//
// Each helper holds up to `depth` units at once, so it starts its next unit without waiting for the busy
// owner to read the last answer; the owner takes units from the same queue between its checkpoints. A helper
// that dies gives its units back to the queue. Results carry the batch's generation: answers to an
// abandoned batch (a stop) are recognised as stale and dropped. Which worker solved a unit never matters:
// the run merges results by job index. `workerCount` sizes the pool for a run (cores and memory).

/** Most workers one run uses (the owner and its helpers). */
export const MAX_WORKERS = 8;
/**
 * Memory the helpers of one run may take together. Each holds its own copy of the recording: about
 * REPLICA_BYTES_PER_SAMPLE bytes a sample (the traces sent, their normalised copy, and the run's counts,
 * flags and activity), so a large recording gets fewer helpers, or none, rather than a copy per core.
 */
export const HELPERS_MEMORY_BYTES = 1024 ** 3;
export const REPLICA_BYTES_PER_SAMPLE = 17;

/**
 * Workers for a run of `nCells` x `nTime` samples: `workers` if given, else one per core, within
 * [1, MAX_WORKERS] and with no more helpers than HELPERS_MEMORY_BYTES holds.
 */
export function workerCount(run: { workers?: number; nCells: number; nTime: number }, cores: number): number {
  const wanted = Math.floor(run.workers ?? cores) || 1;
  const replicaBytes = REPLICA_BYTES_PER_SAMPLE * run.nCells * run.nTime;
  const affordable = 1 + Math.floor(HELPERS_MEMORY_BYTES / Math.max(1, replicaBytes));
  return Math.max(1, Math.min(MAX_WORKERS, wanted, affordable));
}

export interface HelperPort<U> {
  /** Sends unit `id` of batch `gen` to this helper. */
  send(gen: number, id: number, unit: U): void;
}

interface Slot<U> {
  port: HelperPort<U>;
  inFlight: Set<number>;
}

export class UnitFarm<U> {
  /** Generation of the current batch; answers tagged with another are stale. */
  gen = 0;
  private queue: { id: number; unit: U }[] = [];
  private owner = new Map<number, { slot: Slot<U>; unit: U }>();
  private slots: Slot<U>[] = [];
  private held = false;

  constructor(private readonly depth = 2) {}

  /** Helpers that can take units now. */
  get helpers(): number {
    return this.slots.length;
  }

  /** Starts a batch (abandoning any unfinished one) and hands the helpers their first units. */
  start(units: U[]): void {
    this.gen++;
    this.queue = units.map((unit, id) => ({ id, unit }));
    this.owner.clear();
    for (const s of this.slots) s.inFlight.clear();
    this.fill();
  }

  /** Drops the rest of the batch: queued units are forgotten and late answers become stale. */
  abandon(): void {
    this.start([]);
  }

  /** A helper is ready; it gets units at once if a batch is open. */
  add(port: HelperPort<U>): void {
    this.slots.push({ port, inFlight: new Set() });
    this.fill();
  }

  /** A helper died: its units go back to the front of the queue and it gets no more. */
  remove(port: HelperPort<U>): void {
    const slot = this.slots.find((s) => s.port === port);
    if (!slot) return;
    this.slots = this.slots.filter((s) => s !== slot);
    const back = [...slot.inFlight]
      .sort((a, b) => a - b)
      .flatMap((id) => {
        const o = this.owner.get(id);
        this.owner.delete(id);
        return o ? [{ id, unit: o.unit }] : [];
      });
    this.queue.unshift(...back);
    this.fill();
  }

  /**
   * A helper answered unit `id` of batch `gen`: the unit, when the answer belongs to the open batch (the
   * caller then records it); undefined for a stale or unknown one, which the caller drops.
   */
  settle(gen: number, id: number): U | undefined {
    if (gen !== this.gen) return undefined;
    const o = this.owner.get(id);
    if (!o) return undefined;
    this.owner.delete(id);
    o.slot.inFlight.delete(id);
    this.fill();
    return o.unit;
  }

  /** The next unit for the caller to solve itself; undefined when the queue is empty. */
  take(): U | undefined {
    return this.queue.shift()?.unit;
  }

  /** While held (a pause), helpers finish what they hold but get no new units. */
  hold(held: boolean): void {
    this.held = held;
    this.fill();
  }

  /** Nothing queued and nothing in flight: every unit of the batch was solved (or abandoned). */
  get finished(): boolean {
    return this.queue.length === 0 && this.owner.size === 0;
  }

  private fill(): void {
    if (this.held) return;
    for (const slot of this.slots) {
      while (slot.inFlight.size < this.depth && this.queue.length > 0) {
        const next = this.queue.shift();
        if (!next) break;
        slot.inFlight.add(next.id);
        this.owner.set(next.id, { slot, unit: next.unit });
        slot.port.send(this.gen, next.id, next.unit);
      }
    }
  }
}
