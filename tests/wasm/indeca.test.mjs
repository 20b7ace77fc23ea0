// The WebAssembly IndecaRun reproduces tests/fixtures/indeca_run.json, computed by the native
// `calab.run_indeca` with the same seed: the browser (CaDecon's worker) and Python run the same
// InDeCa loop and learn the same kernel and activity, within the tolerance stored in the file
// (not bit for bit: see make_indeca_fixture.py for why and for the measured differences).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadSolver, repoRoot } from './load.mjs';

const fx = JSON.parse(readFileSync(path.join(repoRoot, 'tests/fixtures/indeca_run.json'), 'utf8'));
const tol = fx.tolerance;

function runToEnd(m) {
  const run = new m.IndecaRun(Float32Array.from(fx.traces), fx.num_cells, fx.num_timepoints, fx.fs,
    JSON.stringify(fx.config));
  const reports = [];
  while (!run.is_converged() && run.iteration() < fx.config.max_iterations) {
    reports.push(JSON.parse(run.step()));
  }
  run.final_pass(0, 2); // in two chunks, as the app does
  run.final_pass(2, fx.num_cells);
  const result = JSON.parse(run.result_json());
  const activity = run.activity();
  return { run, reports, result, activity };
}

test('wasm IndecaRun learns the kernel and activity the native run_indeca learned', async () => {
  const m = await loadSolver();
  const { run, reports, result, activity } = runToEnd(m);
  const e = fx.expected;
  assert.equal(result.iterations, e.iterations);
  assert.equal(result.converged, e.converged);
  assert.equal(reports.length, e.iterations);
  reports.forEach((r, i) => {
    assert.ok(Math.abs(r.tau_rise / e.history[i][0] - 1) <= tol.tau_rtol, `iteration ${i + 1} tau_rise ${r.tau_rise} vs ${e.history[i][0]}`);
    assert.ok(Math.abs(r.tau_decay / e.history[i][1] - 1) <= tol.tau_rtol, `iteration ${i + 1} tau_decay ${r.tau_decay} vs ${e.history[i][1]}`);
  });
  assert.ok(Math.abs(result.tau_rise / e.tau_rise - 1) <= tol.tau_rtol, `tau_rise ${result.tau_rise} vs ${e.tau_rise}`);
  assert.ok(Math.abs(result.tau_decay / e.tau_decay - 1) <= tol.tau_rtol, `tau_decay ${result.tau_decay} vs ${e.tau_decay}`);
  assert.equal(result.partial, false);
  assert.deepEqual(result.cell_indices, [...Array(fx.num_cells).keys()]);

  const want = new Float32Array(fx.num_cells * fx.num_timepoints);
  for (const [i, v] of e.activity_nonzero) want[i] = v;
  assert.equal(activity.length, want.length);
  let differing = 0, events = 0, wantEvents = 0;
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(activity[i] - want[i]) > tol.activity_abs_tol) differing++;
    events += activity[i];
    wantEvents += want[i];
  }
  // Pearson r of the counts summed over bins of a few frames (a moved spike stays in its bin).
  const w = tol.bin_frames, nb = Math.floor(want.length / w);
  const A = new Float64Array(nb), B = new Float64Array(nb);
  for (let b = 0; b < nb; b++) for (let k = 0; k < w; k++) { A[b] += activity[b * w + k]; B[b] += want[b * w + k]; }
  const ma = A.reduce((s, x) => s + x, 0) / nb, mb = B.reduce((s, x) => s + x, 0) / nb;
  let sab = 0, saa = 0, sbb = 0;
  for (let b = 0; b < nb; b++) { sab += (A[b] - ma) * (B[b] - mb); saa += (A[b] - ma) ** 2; sbb += (B[b] - mb) ** 2; }
  const r = sab / Math.sqrt(saa * sbb);
  console.log(`wasm vs native: ${differing}/${want.length} frames differ, ${events} vs ${wantEvents} events, binned r = ${r.toFixed(4)}, taus ${result.tau_rise} / ${result.tau_decay} vs ${e.tau_rise} / ${e.tau_decay}`);
  assert.ok(differing / want.length <= tol.activity_max_frames_differing, `${differing} of ${want.length} frames differ`);
  assert.ok(Math.abs(events / wantEvents - 1) <= tol.event_count_rtol, `${events} vs ${wantEvents} events`);
  assert.ok(r >= tol.activity_min_binned_correlation, `binned activity correlation ${r}`);

  // Per-cell views have the trace length; the fit is on the preprocessed trace's scale.
  assert.equal(run.cell_trace(0).length, fx.num_timepoints);
  assert.equal(run.cell_fit(0).length, fx.num_timepoints);
  run.free();
});

/** Concatenated records (each led by its word count) as separate arrays, as CaDecon's worker splits them. */
function records(flat) {
  const out = [];
  for (let at = 0; at < flat.length; at += flat[at]) out.push(flat.slice(at, at + flat[at]));
  return out;
}

test('a run whose solves a replica does, out of order, is the run step() gives', async () => {
  // What CaDecon's worker pool does: the owner hands out segment tasks and final-pass cells, a
  // second IndecaRun from the same traces and config solves some, and the records come back in
  // any order. Same wasm both ways, so the results must match bit for bit.
  const m = await loadSolver();
  const whole = runToEnd(m);
  const make = () => new m.IndecaRun(Float32Array.from(fx.traces), fx.num_cells, fx.num_timepoints, fx.fs,
    JSON.stringify(fx.config));
  const owner = make();
  const replica = make();
  while (!owner.is_converged() && owner.iteration() < fx.config.max_iterations) {
    const tasks = records(owner.segment_tasks()).reverse();
    assert.ok(tasks.length > 1);
    tasks.forEach((task, i) => owner.accept_segment((i % 2 ? owner : replica).solve_segment(task)));
    assert.equal(owner.segment_tasks().length, 0);
    let report;
    while ((report = owner.step_partial(1)) === undefined);
  }
  const [tr, td] = owner.freeze_final_kernel();
  for (let c = fx.num_cells - 1; c >= 0; c--) owner.accept_final_cell(replica.solve_final_cell(c, tr, td));
  assert.equal(owner.result_json(), whole.run.result_json());
  assert.deepEqual(owner.activity(), whole.activity);
  // A record that does not belong is refused with a code, and the run is unchanged.
  const again = replica.solve_final_cell(0, tr, td);
  again[3] *= 2; // tau_rise
  assert.throws(() => owner.accept_final_cell(again), (e) => e.code === 'INVALID_STATE');
  assert.throws(() => owner.accept_segment(new Float64Array([3, 2, 0])), (e) => e.code === 'SHAPE_MISMATCH');
  assert.equal(owner.result_json(), whole.run.result_json());
  for (const r of [owner, replica, whole.run]) r.free();
});

test('IndecaRun errors carry codes', async () => {
  const m = await loadSolver();
  const y = new Float32Array(2 * 100).fill(1);
  const code = (f) => { try { f(); } catch (e) { return e.code; } return 'no error'; };
  assert.equal(code(() => new m.IndecaRun(y, 3, 100, 30, '{}')), 'SHAPE_MISMATCH');
  assert.equal(code(() => new m.IndecaRun(y, 2, 100, 0, '{}')), 'INVALID_PARAMETER');
  assert.equal(code(() => new m.IndecaRun(y, 2, 100, 30, '{"max_iterations": 0}')), 'INVALID_PARAMETER');
  assert.equal(code(() => new m.IndecaRun(y, 2, 100, 30, '{"nope": 1}')), 'INVALID_STATE');
  const bad = y.slice(); bad[5] = NaN;
  assert.equal(code(() => new m.IndecaRun(bad, 2, 100, 30, '{}')), 'NON_FINITE_INPUT');
  const run = new m.IndecaRun(Float32Array.from(fx.traces), fx.num_cells, fx.num_timepoints, fx.fs, '{"max_iterations": 1, "upsample_target": null}');
  assert.equal(code(() => run.final_pass(0, fx.num_cells + 1)), 'SHAPE_MISMATCH');
  assert.equal(code(() => run.cell_fit(fx.num_cells)), 'INVALID_PARAMETER');
  assert.equal(JSON.parse(run.result_json()).partial, true);
  run.free();
  // The defaults the module hands out are the schema's (one source of truth for the app).
  const schema = JSON.parse(readFileSync(path.join(repoRoot, 'schemas/cadecon-config.schema.json'), 'utf8'));
  const schemaDefaults = Object.fromEntries(Object.entries(schema.properties).map(([k, p]) => [k, p.default]));
  assert.deepEqual(JSON.parse(m.indeca_default_config_json()), schemaDefaults);
});
