// The page's own instance of the solver module, for cheap kernel numbers (shape, AR(2) form), the demo
// simulator and CaDecon's config defaults. Solving happens in workers; this never runs a solve on the
// main thread.

import init, * as calab from '../../pkg/calab_solver.js';
import wasmUrl from '../../pkg/calab_solver_bg.wasm?url';

export type Calab = typeof calab;

let ready: Promise<Calab> | null = null;

export function loadCalab(): Promise<Calab> {
  ready ??= init({ module_or_path: wasmUrl }).then(() => calab);
  return ready;
}

/** The module, or null after telling the user (through `show`) why the page cannot work without it. */
export async function loadCalabOrExplain(show: (msg: string) => void): Promise<Calab | null> {
  try {
    return await loadCalab();
  } catch (e) {
    show(
      `The solver module could not be loaded (${e instanceof Error ? e.message : String(e)}). Is this browser recent enough for WebAssembly?`,
    );
    return null;
  }
}
