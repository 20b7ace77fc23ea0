// Module worker that helps the InDeCa worker (indeca.worker.ts) run one job: it builds a replica IndecaRun
// from the same traces and config and solves the units it is sent (segment solves of an iteration, cells of
// the final pass), returning pkg/'s f64 records. A replica never steps: the owner keeps the loop's state
// and merges the records by job index, so which worker solved a unit does not change the run.

/// <reference lib="webworker" />
import init, * as wasm from '../../pkg/calab_solver.js';
import wasmUrl from '../../pkg/calab_solver_bg.wasm?url';
import type { HelperRequest, HelperResponse, WorkUnit } from '../shared/indeca-protocol';
import { safeFree, solverErrorParts } from '../shared/solvererror';

declare const self: DedicatedWorkerGlobalScope;

let replica: wasm.IndecaRun | null = null;
const loaded = init({ module_or_path: wasmUrl });

function post(msg: HelperResponse, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

function solve(r: wasm.IndecaRun, unit: WorkUnit): Float64Array {
  return unit.kind === 'segment'
    ? r.solve_segment(unit.record)
    : r.solve_final_cell(unit.cell, unit.tauRise, unit.tauDecay);
}

async function handle(m: HelperRequest): Promise<void> {
  if (m.type === 'init') {
    try {
      await loaded;
      safeFree(replica);
      replica = new wasm.IndecaRun(m.traces, m.nCells, m.nTime, m.fs, m.configJson);
      post({ type: 'ready' });
    } catch (e) {
      const { code, message } = solverErrorParts(e);
      post({ type: 'init-error', code, message });
    }
    return;
  }
  const { gen, id, unit } = m;
  if (!replica) {
    post({ type: 'failed', gen, id, code: 'NOT_READY', message: 'the helper has no run', trapped: true });
    return;
  }
  try {
    const record = solve(replica, unit);
    post({ type: 'solved', gen, id, kind: unit.kind, record }, [record.buffer as ArrayBuffer]);
  } catch (e) {
    const { code, message, trapped } = solverErrorParts(e);
    if (trapped) {
      // The replica may still be borrowed inside wasm-bindgen after a trap: this helper is done.
      safeFree(replica);
      replica = null;
    }
    post({ type: 'failed', gen, id, code, message, trapped });
  }
}

// One message at a time, in order: `init` must finish before the first unit is solved.
let chain: Promise<void> = Promise.resolve();
self.onmessage = (ev: MessageEvent<HelperRequest>) => {
  const m = ev.data;
  chain = chain.then(() => handle(m));
};
