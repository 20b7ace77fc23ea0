// Loads the generated wasm package (pkg/, or $CALAB_PKG_DIR) synchronously for Node tests.
// wasm-bindgen's web target expects `initSync({ module })`, where module is the .wasm bytes
// or a compiled WebAssembly.Module; there is no fetch() of a file URL in Node, so the bytes
// are read from disk. Instantiation happens once per process; later calls reuse it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const pkgDir = process.env.CALAB_PKG_DIR
  ? path.resolve(process.env.CALAB_PKG_DIR)
  : path.join(repoRoot, 'pkg');

let loaded;

/** The initialised `calab_solver` module (its exports, e.g. `solver_version`). */
export async function loadSolver() {
  loaded ??= (async () => {
    const mod = await import(pathToFileURL(path.join(pkgDir, 'calab_solver.js')).href);
    mod.initSync({ module: readFileSync(path.join(pkgDir, 'calab_solver_bg.wasm')) });
    return mod;
  })();
  return loaded;
}
