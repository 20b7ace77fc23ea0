// Errors thrown by the wasm solvers, reduced to the { code, message } the workers post. The core's own
// errors are JS Errors carrying the stable `code` (crates/solver/src/error.rs). A Rust panic cannot be
// caught inside the module (the wasm build aborts on panic, so catch_unwind there would catch nothing):
// it reaches JavaScript as a WebAssembly.RuntimeError (a trap), reported here as INTERNAL, a bug, the
// same code Python gives a panic. After a trap the object that trapped may still be borrowed inside
// wasm-bindgen, so the workers drop it (`safeFree`) and make a new one.

export interface SolverErrorParts {
  code: string;
  message: string;
  /** The module trapped (a panic or an out-of-memory abort inside the solver). */
  trapped: boolean;
}

export function solverErrorParts(e: unknown): SolverErrorParts {
  if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) {
    return {
      code: 'INTERNAL',
      message: `internal error in the solver (a bug in calab, please report it): ${e.message}`,
      trapped: true,
    };
  }
  const err = e as { code?: unknown; message?: unknown };
  return {
    code: typeof err?.code === 'string' ? err.code : 'SOLVER_ERROR',
    message: typeof err?.message === 'string' ? err.message : String(e),
    trapped: false,
  };
}

/** `obj.free()`, ignoring the error a trapped object throws ("recursive use of an object"). */
export function safeFree(obj: { free(): void } | null | undefined): void {
  try {
    obj?.free();
  } catch {
    // Left to the garbage collector: a trapped object cannot be freed.
  }
}
