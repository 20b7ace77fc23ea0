// Module worker that runs one InDeCa job with IndecaRun from pkg/ (the Rust core, the same loop Python's
// calab.run_indeca runs). The worker handles pause, stop and inspect messages only between calls into the
// core, so it works in time slices: it solves units (one segment of an iteration, one cell of the final
// pass) with a checkpoint (progress out, messages in) every SLICE_MS or so. After every iteration and every
// final-pass slice it posts a snapshot (the results so far and the new activity rows), so the page can end a
// stop without waiting for the unit in flight. Results and the activity go back as transferables.
//
// wasm has no threads here, so the worker spreads the units over helper workers (indeca-helper.worker.ts,
// one fewer than the machine's cores, each with a replica of the run) and solves units itself between
// checkpoints; the run merges results by job index, so the answer does not depend on the helpers. The
// kernel stage of each iteration (a few per-subset fits, about 4 % of its time) stays here.

/// <reference lib="webworker" />
import init, * as wasm from '../../pkg/calab_solver.js';
import wasmUrl from '../../pkg/calab_solver_bg.wasm?url';
import { type HelperPort, UnitFarm, workerCount } from '../shared/farm';
import type {
  HelperRequest,
  HelperResponse,
  IndecaRequest,
  IndecaResponse,
  IterationReport,
  Phase,
  StartRequest,
  WorkUnit,
} from '../shared/indeca-protocol';
import { safeFree, solverErrorParts } from '../shared/solvererror';

declare const self: DedicatedWorkerGlobalScope;

/** Work between two checkpoints, ms (one unit may run over it). */
const SLICE_MS = 150;

let run: wasm.IndecaRun | null = null;
let paused = false;
let stopRequested = false;
let wake: (() => void) | null = null;

function post(msg: IndecaResponse, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

function errorParts(e: unknown): { code: string; message: string } {
  const { code, message } = solverErrorParts(e);
  return { code, message };
}

const ready = (async (): Promise<boolean> => {
  try {
    await init({ module_or_path: wasmUrl });
    post({ type: 'ready', engine: 'wasm' });
    return true;
  } catch (e) {
    post({ type: 'init-error', message: `could not load the solver: ${errorParts(e).message}` });
    return false;
  }
})();

/** Lets queued messages (pause, stop, inspect) in, then waits while paused. */
async function checkpoint(): Promise<void> {
  await new Promise<void>((r) => setTimeout(r, 0));
  if (paused && !stopRequested) {
    post({ type: 'paused' });
    await new Promise<void>((r) => {
      wake = r;
    });
    wake = null;
    if (!stopRequested) post({ type: 'resumed' });
  }
}

function progress(phase: Phase, fraction: number, message: string): void {
  post({ type: 'progress', phase, fraction: Math.min(1, Math.max(0, fraction)), message });
}

// ---------------------------------------------------------------- helpers

interface Helper {
  worker: Worker;
  port: HelperPort<WorkUnit>;
  solved: number;
}

/** Units each helper holds: one it solves and the next ones, so it never waits for this busy worker. */
const HELPER_DEPTH = 3;
const farm = new UnitFarm<WorkUnit>(HELPER_DEPTH);
let helpers: Helper[] = [];
/** Helpers that solved at least one unit of this run. */
let contributed = 0;
/** Resolves the owner's wait for helper answers (or for a stop). */
let nudge: (() => void) | null = null;

function wakeOwner(): void {
  const n = nudge;
  nudge = null;
  n?.();
}

function dropHelper(h: Helper): void {
  farm.remove(h.port);
  helpers = helpers.filter((x) => x !== h);
  h.worker.terminate();
  wakeOwner();
}

function stopHelpers(): void {
  for (const h of [...helpers]) dropHelper(h);
}

/** Starts the helpers for this run; each joins the farm once its replica is built. */
function startHelpers(req: StartRequest, r: wasm.IndecaRun): void {
  stopHelpers();
  const n = workerCount(req, self.navigator?.hardwareConcurrency ?? 1);
  for (let i = 1; i < n; i++) {
    let worker: Worker;
    try {
      worker = new Worker(new URL('./indeca-helper.worker.ts', import.meta.url), {
        type: 'module',
        name: `calab-indeca-helper-${i}`,
      });
    } catch {
      return; // no nested workers here: this worker does all the work
    }
    const h: Helper = {
      worker,
      port: { send: (gen, id, unit) => sendUnit(worker, gen, id, unit) },
      solved: 0,
    };
    worker.onmessage = (ev: MessageEvent<HelperResponse>) => onHelper(h, r, ev.data);
    worker.onerror = (ev) => {
      ev.preventDefault();
      dropHelper(h);
    };
    helpers.push(h);
    const traces = req.traces.slice();
    const init: HelperRequest = {
      type: 'init',
      traces,
      nCells: req.nCells,
      nTime: req.nTime,
      fs: req.fs,
      configJson: req.configJson,
    };
    worker.postMessage(init, [traces.buffer]);
  }
}

function sendUnit(worker: Worker, gen: number, id: number, unit: WorkUnit): void {
  const msg: HelperRequest = { type: 'unit', gen, id, unit };
  // A segment record is sent once: give the buffer away.
  worker.postMessage(msg, unit.kind === 'segment' ? [unit.record.buffer as ArrayBuffer] : []);
}

function onHelper(h: Helper, r: wasm.IndecaRun, m: HelperResponse): void {
  if (run !== r) return; // a helper of an earlier run
  switch (m.type) {
    case 'ready':
      farm.add(h.port);
      break;
    case 'init-error':
      dropHelper(h);
      break;
    case 'solved': {
      const unit = farm.settle(m.gen, m.id);
      if (!unit) break;
      try {
        if (unit.kind === 'segment') r.accept_segment(m.record);
        else {
          r.accept_final_cell(m.record);
          finishedCells.push(unit.cell);
        }
        if (h.solved++ === 0) contributed++;
      } catch {
        // The run refused the answer (it does not fit the unit sent): solve the unit here instead.
        retry.push(unit);
      }
      break;
    }
    case 'failed': {
      // Solved again here: a unit that fails for its data fails here too and is recorded as such.
      const unit = farm.settle(m.gen, m.id);
      if (unit) retry.push(unit);
      if (m.trapped) dropHelper(h);
      break;
    }
  }
  wakeOwner();
}

// ---------------------------------------------------------------- units solved here

/** Final-pass cells finished since the last snapshot. */
let finishedCells: number[] = [];
/** Units a helper failed on (or answered with a record the run refused), to solve here. */
let retry: WorkUnit[] = [];

function solveHere(r: wasm.IndecaRun, unit: WorkUnit): void {
  if (unit.kind === 'segment') {
    let record: Float64Array;
    try {
      record = r.solve_segment(unit.record);
    } catch (e) {
      const { code, message } = errorParts(e);
      r.reject_segment(unit.job, code, message);
      return;
    }
    r.accept_segment(record);
  } else {
    r.final_pass(unit.cell, unit.cell + 1); // records a failure in the results itself
    finishedCells.push(unit.cell);
  }
}

const yieldChannel = new MessageChannel();
/** Returns after the messages already queued (helpers' answers, page requests) have been handled. */
function yieldToMessages(): Promise<void> {
  // A MessageChannel round trip, not setTimeout(0), which browsers clamp to 4 ms once nested.
  return new Promise<void>((resolve) => {
    yieldChannel.port1.onmessage = () => resolve();
    yieldChannel.port2.postMessage(null);
  });
}

/** Waits for a helper's answer, a stop or a short timeout, whichever is first. */
function helperAnswer(): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, SLICE_MS);
    nudge = () => {
      clearTimeout(t);
      resolve();
    };
  });
}

/**
 * Solves a batch of units with the helpers and this worker, with checkpoints and `report` after every slice.
 * False when a stop ended it early (the rest is abandoned).
 */
async function solveBatch(r: wasm.IndecaRun, units: WorkUnit[], report: () => void): Promise<boolean> {
  retry = [];
  farm.start(units);
  while (!farm.finished || retry.length > 0) {
    farm.hold(paused);
    await checkpoint();
    farm.hold(false);
    if (stopRequested) {
      farm.abandon();
      return false;
    }
    const t0 = performance.now();
    let drained = false;
    while (performance.now() - t0 < SLICE_MS) {
      const unit = retry.shift() ?? farm.take();
      if (unit === undefined) {
        drained = true;
        break;
      }
      solveHere(r, unit);
      // Let the helpers' answers in after every unit, so each gets its next unit at once instead of
      // idling until the end of the slice.
      await yieldToMessages();
    }
    report();
    // Nothing left to do here: wait for the helpers' last answers.
    if (drained && !farm.finished) await helperAnswer();
  }
  report(); // the helpers' last answers may have come in after the last report
  return true;
}

/** The segment tasks of the next iteration as farm units. */
function segmentUnits(r: wasm.IndecaRun): WorkUnit[] {
  const flat = r.segment_tasks();
  const units: WorkUnit[] = [];
  for (let at = 0; at < flat.length; at += flat[at]) {
    const record = flat.slice(at, at + flat[at]);
    units.push({ kind: 'segment', job: record[2], record });
  }
  return units;
}

/** Finishes an iteration whose segments are all in: the kernel stage, a unit per call. */
function finishIteration(r: wasm.IndecaRun): IterationReport {
  for (;;) {
    const json = r.step_partial(1);
    if (json !== undefined) return JSON.parse(json) as IterationReport;
  }
}

/** The results so far, without activity rows (after an iteration: the final pass has not started). */
function resultSnapshot(r: wasm.IndecaRun): void {
  // No copy of the activity: it is all zeros until the final pass.
  post({ type: 'snapshot', resultJson: r.result_json(), cellStart: 0, cellEnd: 0, rows: new Float32Array(0) });
}

/** Snapshots of the final-pass cells finished since the last one, a contiguous range at a time. */
function snapshotFinished(r: wasm.IndecaRun, nTime: number): void {
  if (finishedCells.length === 0) return;
  const cells = finishedCells.sort((a, b) => a - b);
  finishedCells = [];
  // One copy of the activity and one results document for all the ranges.
  const activity = r.activity();
  const resultJson = r.result_json();
  for (let i = 0; i < cells.length; ) {
    let j = i + 1;
    while (j < cells.length && cells[j] === cells[j - 1] + 1) j++;
    const [cellStart, cellEnd] = [cells[i], cells[j - 1] + 1];
    const rows = activity.slice(cellStart * nTime, cellEnd * nTime);
    post({ type: 'snapshot', resultJson, cellStart, cellEnd, rows }, [rows.buffer as ArrayBuffer]);
    i = j;
  }
}

async function execute(req: StartRequest): Promise<void> {
  if (!(await ready)) return;
  stopHelpers();
  safeFree(run);
  run = null;
  paused = false;
  stopRequested = false;
  finishedCells = [];
  contributed = 0;
  progress('loading', 0, 'Preparing the traces');
  try {
    run = new wasm.IndecaRun(req.traces, req.nCells, req.nTime, req.fs, req.configJson);
  } catch (e) {
    post({ type: 'error', ...errorParts(e) });
    return;
  }
  const r = run;
  const max = req.maxIterations;
  startHelpers(req, r);
  try {
    resultSnapshot(r);
    while (r.iteration() < max && !r.is_converged()) {
      await checkpoint();
      if (stopRequested) break;
      const k = r.iteration();
      const finished = await solveBatch(r, segmentUnits(r), () => {
        const [done, total] = r.step_units();
        progress(
          'iterating',
          (k + done / Math.max(1, total)) / max,
          `Iteration ${k + 1} of at most ${max}: ${done} of ${total} steps`,
        );
      });
      if (!finished) break;
      const report = finishIteration(r);
      post({ type: 'iteration', report });
      resultSnapshot(r);
      progress('iterating', r.iteration() / max, `Iteration ${r.iteration()} done (at most ${max})`);
    }
    if (!stopRequested) {
      const [tauRise, tauDecay] = r.freeze_final_kernel();
      const cells: WorkUnit[] = Array.from({ length: req.nCells }, (_, cell) => ({
        kind: 'final-cell',
        cell,
        tauRise,
        tauDecay,
      }));
      let done = 0;
      progress('final-pass', 0, `Final pass: 0 of ${req.nCells} cells`);
      await solveBatch(r, cells, () => {
        done += finishedCells.length;
        snapshotFinished(r, req.nTime);
        progress('final-pass', done / req.nCells, `Final pass: ${done} of ${req.nCells} cells`);
      });
    }
    stopHelpers();
    if (!stopRequested) progress('final-pass', 1, `Final pass: all ${req.nCells} cells`);
    progress('collecting', 1, stopRequested ? 'Stopped early' : 'Done');
    const resultJson = r.result_json();
    const activity = r.activity();
    post({ type: 'done', resultJson, activity, stopped: stopRequested, workers: 1 + contributed }, [
      activity.buffer as ArrayBuffer,
    ]);
  } catch (e) {
    stopHelpers();
    post({ type: 'error', ...errorParts(e) });
  }
}

function inspect(cell: number): void {
  if (!run) return;
  try {
    const trace = run.cell_trace(cell);
    const T = trace.length;
    const activity = run.activity().slice(cell * T, (cell + 1) * T);
    const fit = run.cell_fit(cell);
    post({ type: 'cell', cell, trace, fit, activity }, [trace.buffer, fit.buffer, activity.buffer] as Transferable[]);
  } catch (e) {
    post({ type: 'cell-error', cell, ...errorParts(e) });
  }
}

self.onmessage = (ev: MessageEvent<IndecaRequest>) => {
  const m = ev.data;
  switch (m.type) {
    case 'start':
      void execute(m);
      break;
    case 'pause':
      paused = true;
      break;
    case 'resume':
      paused = false;
      wake?.();
      break;
    case 'stop':
      stopRequested = true;
      wake?.();
      wakeOwner();
      break;
    case 'inspect':
      inspect(m.cell);
      break;
  }
};
