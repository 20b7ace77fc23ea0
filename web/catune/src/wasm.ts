// The page's own instance of the solver module, for cheap kernel numbers (shape, AR(2) form) and the demo
// simulator. Solving happens in workers; this never runs a solve on the main thread.

import init, * as calab from '../../../pkg/calab_solver.js';
import wasmUrl from '../../../pkg/calab_solver_bg.wasm?url';

export type Calab = typeof calab;

let ready: Promise<Calab> | null = null;

export function loadCalab(): Promise<Calab> {
  ready ??= init({ module_or_path: wasmUrl }).then(() => calab);
  return ready;
}
