// A Rust panic in the real wasm module (pkg/): it arrives as a trap, the workers' mapping turns it into
// code INTERNAL, and a fresh solver keeps working afterwards.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import * as wasm from '../../pkg/calab_solver.js';
import { safeFree, solverErrorParts } from '../shared/solvererror';

beforeAll(() => {
  wasm.initSync({ module: readFileSync(new URL('../../pkg/calab_solver_bg.wasm', import.meta.url)) });
});

describe('solver errors in the workers', () => {
  test('a panic is a trap, reported as INTERNAL', () => {
    let thrown: unknown = null;
    try {
      (wasm as unknown as { __test_panic(): void }).__test_panic();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(WebAssembly.RuntimeError);
    const parts = solverErrorParts(thrown);
    expect(parts.code).toBe('INTERNAL');
    expect(parts.trapped).toBe(true);
    expect(parts.message).toMatch(/bug in calab/);
    expect([...wasm.error_codes()]).toContain('INTERNAL');
    // The module still solves with a new object.
    const s = new wasm.Solver();
    s.set_params(0.02, 0.4, 0.01, 30);
    const y = new Float32Array(300);
    y[100] = 1;
    s.set_trace(y);
    s.solve(2000);
    expect(s.get_solution().length).toBe(300);
    safeFree(s);
  });
  test("the core's own errors keep their code", () => {
    const s = new wasm.Solver();
    let thrown: unknown = null;
    try {
      s.set_params(0.5, 0.4, 0.1, 30);
    } catch (e) {
      thrown = e;
    }
    expect(solverErrorParts(thrown)).toMatchObject({ code: 'INVALID_PARAMETER', trapped: false });
    expect(solverErrorParts('plain')).toEqual({ code: 'SOLVER_ERROR', message: 'plain', trapped: false });
    safeFree(s);
    safeFree(s); // a second free of a freed object does not throw out of safeFree
  });
});
