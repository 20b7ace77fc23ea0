// The WebAssembly build reproduces tests/fixtures/deconv_golden.json (computed natively) within
// the tolerance stored in the file: the browser runs the same solver as Python.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadSolver, repoRoot } from './load.mjs';

const golden = JSON.parse(readFileSync(path.join(repoRoot, 'tests/fixtures/deconv_golden.json'), 'utf8'));
const { rtol, atol } = golden.tolerance;

function assertClose(got, want, label) {
  assert.equal(got.length, want.length, `${label}: length`);
  const bound = atol + rtol * Math.max(...want.map(Math.abs));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  assert.ok(worst <= bound, `${label}: off by ${worst}, allowed ${bound}`);
}

for (const c of golden.cases) {
  test(`wasm matches golden: ${c.name}`, async () => {
    const m = await loadSolver();
    const r = m.deconvolve_trace(Float32Array.from(c.trace), c.tau_rise, c.tau_decay, c.lam, c.fs,
      c.max_iters, c.conv_mode, c.constraint, c.method, c.filter_enabled, c.remove_drift);
    assert.equal(r.converged, c.expected.converged);
    assertClose(r.activity, c.expected.activity, `${c.name} activity`);
    assertClose(r.reconvolution, c.expected.reconvolution, `${c.name} reconvolution`);
    r.free();
  });
}

test('stateful Solver.solve gives the golden activity of the first case', async () => {
  const m = await loadSolver();
  const c = golden.cases[0];
  const s = new m.Solver();
  s.set_params(c.tau_rise, c.tau_decay, c.lam, c.fs);
  s.set_conv_mode(c.conv_mode);
  s.set_trace(Float32Array.from(c.trace));
  assert.equal(s.solve(c.max_iters), true);
  assertClose(s.get_solution(), c.expected.activity, 'Solver activity');
  s.free();
});

test('errors carry stable codes', async () => {
  const m = await loadSolver();
  const s = new m.Solver();
  assert.throws(() => s.set_params(0.5, 0.4, 0.1, 30), (e) => e instanceof Error && e.code === 'INVALID_PARAMETER' && /tau_rise/.test(e.message));
  assert.throws(() => s.set_trace(Float32Array.from([1, NaN, 2])), (e) => e.code === 'NON_FINITE_INPUT');
  assert.throws(() => s.step_batch(10), (e) => e.code === 'NOT_READY');
  assert.throws(() => s.set_conv_mode('circular'), (e) => e.code === 'UNKNOWN_OPTION');
  assert.deepEqual([...m.error_codes()].sort(), ['CANCELLED', 'INTERNAL', 'INVALID_PARAMETER', 'INVALID_STATE', 'NON_FINITE_INPUT', 'NOT_READY', 'NUMERICAL_FAILURE', 'OUT_OF_MEMORY', 'SHAPE_MISMATCH', 'TRACE_TOO_SHORT', 'UNKNOWN_OPTION', 'VALUE_OUT_OF_RANGE']);
  s.free();
});

test('preprocess_trace is the stateful Solver\'s fitted trace, without a solver', async () => {
  const m = await loadSolver();
  const c = golden.cases[0];
  const raw = Float32Array.from(c.trace, (v, i) => v + 0.5 * Math.sin(i / 40)); // some slow drift
  for (const [drift, bandpass] of [[true, false], [false, true], [true, true], [false, false]]) {
    const s = new m.Solver();
    s.set_drift_removal(drift);
    s.set_filter_enabled(bandpass);
    s.set_params(c.tau_rise, c.tau_decay, 0.01, c.fs);
    s.set_trace(raw);
    const want = s.get_trace();
    s.free();
    const got = m.preprocess_trace(raw, c.tau_rise, c.tau_decay, c.fs, drift, bandpass);
    assert.deepEqual([...got], [...want], `drift ${drift} bandpass ${bandpass}`);
    if (drift || bandpass) assert.notDeepEqual([...got], [...raw], `drift ${drift} bandpass ${bandpass} changes the trace`);
  }
  assert.throws(() => m.preprocess_trace(Float32Array.from([1, NaN, 2]), 0.02, 0.4, 30, true, false), (e) => e.code === 'NON_FINITE_INPUT');
  assert.throws(() => m.preprocess_trace(new Float32Array(0), 0.02, 0.4, 30, true, false), (e) => e.code === 'TRACE_TOO_SHORT');
  assert.throws(() => m.preprocess_trace(raw, 0.5, 0.4, 30, false, true), (e) => e.code === 'INVALID_PARAMETER' && /tau_rise/.test(e.message));
});

// Correctness, not only parity: small problems solved by a generic dense solver (scipy NNLS /
// BVLS, tests/fixtures/make_dense_reference.py). The activity comes back on frame centres here,
// so the model of the trace (reconvolution, baseline) is what is compared.
const dense = JSON.parse(readFileSync(path.join(repoRoot, 'tests/fixtures/deconv_dense_reference.json'), 'utf8'));
for (const c of dense.cases) {
  test(`wasm matches the dense reference: ${c.name}`, async () => {
    const m = await loadSolver();
    const r = m.deconvolve_trace(Float32Array.from(c.trace), c.tau_rise, c.tau_decay, c.lam, c.fs, 20000, c.conv_mode, c.constraint, 'auto', false, false);
    try {
      assert.ok(r.converged, c.name);
      const want = c.reference.reconvolution;
      const got = r.reconvolution;
      // float32 output: add its rounding (2^-24 of the largest value) to the case's bound.
      const peak = Math.max(...want.map(Math.abs));
      const bound = c.tolerance.atol + (c.tolerance.rtol + 2 ** -23) * peak;
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      assert.ok(worst <= bound, `${c.name} reconvolution: off by ${worst}, allowed ${bound}`);
      assert.ok(Math.abs(r.baseline - c.reference.baseline) <= bound, `${c.name} baseline: ${r.baseline} vs ${c.reference.baseline}`);
    } finally {
      r.free();
    }
  });
}
