// The WebAssembly build of Convar reproduces tests/fixtures/convar_golden.json (computed natively
// by calab.run_convar) within the tolerance stored in the file, for a fixed lambda and for the
// odd/even lambda search (lambda < 0), and throws coded errors on bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadSolver, repoRoot } from './load.mjs';

const golden = JSON.parse(readFileSync(path.join(repoRoot, 'tests/fixtures/convar_golden.json'), 'utf8'));
const { rtol, atol } = golden.tolerance;

function assertClose(got, want, label) {
  assert.equal(got.length, want.length, `${label}: length`);
  const bound = atol + rtol * Math.max(...want.map(Math.abs));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  assert.ok(worst <= bound, `${label}: off by ${worst}, allowed ${bound}`);
}

for (const c of golden.cases) {
  test(`wasm convar matches golden: ${c.name}`, async () => {
    const m = await loadSolver();
    const r = m.convar_solve(Float32Array.from(c.trace), c.gamma, c.lam, c.max_iters);
    assert.ok(Math.abs(r.lambda - c.expected.lambda) <= 1e-9 * c.expected.lambda, `lambda ${r.lambda}`);
    assert.equal(r.converged, c.expected.converged);
    assertClose(r.rates(), c.expected.rates, `${c.name} rates`);
    assertClose(r.calcium(), c.expected.calcium, `${c.name} calcium`);
    assert.ok(Math.abs(r.baseline - c.expected.baseline) <= atol + rtol * Math.abs(c.expected.baseline));
    assert.ok(r.iterations > 0 && Number.isFinite(r.objective));
    r.free();
  });
}

test('NaN lambda also runs the search', async () => {
  const m = await loadSolver();
  const c = golden.cases.find((x) => x.lam < 0);
  const r = m.convar_solve(Float32Array.from(c.trace), c.gamma, NaN, c.max_iters);
  assert.ok(Math.abs(r.lambda - c.expected.lambda) <= 1e-9 * c.expected.lambda);
  r.free();
});

test('convar errors carry stable codes', async () => {
  const m = await loadSolver();
  const y = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i / 5));
  assert.throws(() => m.convar_solve(y, 1.0, 1.0, 100), (e) => e.code === 'INVALID_PARAMETER' && /gamma/.test(e.message));
  assert.throws(() => m.convar_solve(y, 0.9, Infinity, 100), (e) => e.code === 'INVALID_PARAMETER');
  assert.throws(() => m.convar_solve(y, 0.9, 1.0, 0), (e) => e.code === 'INVALID_PARAMETER');
  assert.throws(() => m.convar_solve(Float32Array.from([1, 2]), 0.9, 1.0, 100), (e) => e.code === 'TRACE_TOO_SHORT');
  assert.throws(() => m.convar_solve(Float32Array.from([1, NaN, 2, 3]), 0.9, 1.0, 100), (e) => e.code === 'NON_FINITE_INPUT');
});
