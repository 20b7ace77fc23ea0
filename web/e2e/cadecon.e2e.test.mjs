// End-to-end test of the built CaDecon app in Debian's headless Chromium (playwright-core; no browser
// download), same pattern as catune.e2e.test.mjs: the build is served from a sub-path (proving the relative
// base), any page error or console error fails the test. Flows: demo -> run -> complete with the charts
// updated -> ZIP export opened with fflate; pause/resume/stop with partial results; settings validation;
// .mat input -> .mat activity; bridge mode with autorun against a fake Python bridge.
// Run: `npm run e2e` (builds first). Serving and browser set-up: harness.mjs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { unzipSync, strFromU8 } from 'fflate';
import { fakeBridge, hostileFilesTest, python, pythonCan, repo, runPython, useApp } from './harness.mjs';

const fixtures = path.join(repo, 'web', 'test', 'fixtures');
const schemas = path.join(repo, 'schemas');

function resultsValidator() {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  (addFormatsModule.default ?? addFormatsModule)(ajv);
  ajv.addSchema(JSON.parse(readFileSync(path.join(schemas, 'cadecon-config.schema.json'), 'utf8')));
  return ajv.compile(JSON.parse(readFileSync(path.join(schemas, 'cadecon-results.schema.json'), 'utf8')));
}

/** Minimal .npy reader (little-endian f4/f8, C order) for what the app sends back. */
function readNpy(buf) {
  const u8 = new Uint8Array(buf);
  assert.deepEqual([...u8.subarray(0, 6)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], 'npy magic');
  const hlen = u8[8] | (u8[9] << 8);
  const header = Buffer.from(u8.subarray(10, 10 + hlen)).toString('latin1');
  assert.equal((10 + hlen) % 64, 0, 'npy header is 64-byte aligned');
  const descr = /'descr': '([^']+)'/.exec(header)[1];
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)[1]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  assert.match(header, /'fortran_order': False/);
  const body = u8.slice(10 + hlen);
  const data = descr === '<f4' ? new Float32Array(body.buffer) : new Float64Array(body.buffer);
  return { descr, shape, data };
}

const harness = useApp('cadecon');
const { openPage } = harness;

const state = (page) => page.getAttribute('[data-testid="run-status"]', 'data-state');
const waitState = (page, s, timeout = 120_000) =>
  page.waitForSelector(`[data-testid="run-status"][data-state="${s}"]`, { timeout });

async function loadDemo(page, cells = 20) {
  await page.fill('#demo-cells', String(cells));
  await page.click('[data-testid="demo-button"]');
  await page.waitForSelector('[data-testid="run-start"]');
  await page.click('[data-testid="advanced-settings"] summary'); // subsets, convergence, seed
}

async function downloadZip(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="export-zip"]')]);
  assert.equal(download.suggestedFilename(), 'cadecon_results.zip');
  return unzipSync(new Uint8Array(readFileSync(await download.path())));
}

test('demo: run to completion, charts, ZIP export', async () => {
  const { page, context, check } = await openPage(harness.base);
  await loadDemo(page, 20);
  assert.match(await page.textContent('[data-testid="dataset-label"]'), /demo: .*20 cells × \d+ frames/);
  assert.equal(await state(page), 'idle');
  assert.ok(await page.isDisabled('[data-testid="export-zip"]'));
  // Small, quick run: fewer iterations than the default.
  await page.fill('[data-testid="setting-max-iterations"]', '4');
  await page.fill('[data-testid="setting-seed"]', '7');
  await page.click('[data-testid="run-start"]');
  assert.equal(await state(page), 'running');
  assert.ok(await page.isDisabled('[data-testid="setting-num-subsets"]'), 'settings lock while running');
  await waitState(page, 'complete');
  assert.ok(!(await page.isDisabled('[data-testid="setting-num-subsets"]')), 'settings unlock after the run');
  const points = Number(await page.getAttribute('[data-testid="convergence-chart"]', 'data-points'));
  assert.ok(points >= 1 && points <= 4, `convergence chart has the iterations (${points})`);
  assert.ok(
    Number(await page.getAttribute('[data-testid="raster"]', 'data-subsets')) >= 1,
    'subsets drawn on the raster',
  );
  assert.equal(await page.getAttribute('[data-testid="progress"]', 'data-phase'), 'collecting');
  assert.equal(await page.getAttribute('[data-testid="run-status"]', 'data-partial'), 'false');
  assert.equal(await page.getAttribute('[data-testid="hist-pve"]', 'data-count'), '20');
  await page.waitForSelector('[data-testid="trace-chart"][data-has-fit="true"]');

  // Clicking a subset on the raster inspects it.
  const sub = await page.evaluate(() => document.querySelector('[data-testid="subset-select"]').options.length - 1);
  assert.ok(sub >= 1);
  await page.selectOption('[data-testid="subset-select"]', '0');
  assert.match(
    await page.textContent('[data-testid="subset-info"]'),
    /Subset 1: cells \d+–\d+, frames \d+–\d+; τ_rise/,
  );
  // The scrubber revisits an earlier iteration.
  if (points > 1) {
    await page.$eval('[data-testid="scrubber"]', (el) => {
      el.value = '1';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    assert.match(await page.textContent('[data-testid="scrubber-label"]'), /Iteration 1 of/);
    assert.equal(await page.getAttribute('[data-testid="kernel-chart"]', 'data-iteration'), '1');
  }

  const files = await downloadZip(page);
  assert.match(
    await page.textContent('[data-testid="action-status"]'),
    /Saved cadecon_results\.zip: activity\.npy \(20 cells × \d+ frames\)/,
  );
  assert.deepEqual(Object.keys(files).sort(), ['activity.npy', 'iterations.json', 'results.json']);
  const results = JSON.parse(strFromU8(files['results.json']));
  const validate = resultsValidator();
  assert.ok(validate(results), JSON.stringify(validate.errors));
  assert.equal(results.num_cells, 20);
  assert.deepEqual(results.cell_indices, [...Array(20).keys()]);
  assert.equal(results.partial, false);
  assert.equal(results.config.seed, 7);
  assert.equal(results.config.max_iterations, 4);
  assert.equal(results.provenance.engine, 'wasm');
  const act = readNpy(files['activity.npy']);
  assert.equal(act.descr, '<f4');
  assert.deepEqual(act.shape, [20, results.num_timepoints]);
  assert.ok(
    act.data.some((v) => v > 0),
    'some activity',
  );
  assert.equal(JSON.parse(strFromU8(files['iterations.json'])).length, points);

  // Theme switch and reset.
  await page.click('[data-testid="theme-toggle"]');
  await page.click('[data-testid="run-reset"]');
  assert.equal(await state(page), 'idle');
  assert.ok(await page.isDisabled('[data-testid="export-zip"]'));
  check();
  await context.close();
});

test('helper workers solve part of the run and change nothing in it', async () => {
  // The InDeCa worker spreads segment solves and final-pass cells over helper workers (replicas of the
  // run); `?workers=N` sets how many workers one run uses. One worker and three must give the same run.
  async function runWith(workers) {
    const { page, context, check } = await openPage(`${harness.base}?workers=${workers}`);
    await loadDemo(page, 24);
    await page.fill('[data-testid="setting-max-iterations"]', '3');
    await page.fill('[data-testid="setting-seed"]', '11');
    await page.click('[data-testid="run-start"]');
    await waitState(page, 'complete');
    const files = await downloadZip(page);
    check();
    await context.close();
    const { provenance, ...results } = JSON.parse(strFromU8(files['results.json']));
    return { provenance, results, iterations: strFromU8(files['iterations.json']), activity: files['activity.npy'] };
  }
  const one = await runWith(1);
  const three = await runWith(3);
  assert.equal(one.provenance.workers, 1);
  assert.equal(three.provenance.workers, 3, 'both helpers started and joined the run');
  assert.equal(one.results.partial, false);
  assert.deepEqual(three.results, one.results);
  assert.equal(three.iterations, one.iterations);
  assert.deepEqual(three.activity, one.activity, 'activity identical, byte for byte');
});

test('pause, resume, stop: partial results', async () => {
  const { page, context, check } = await openPage(harness.base);
  await loadDemo(page, 20);
  await page.fill('[data-testid="setting-max-iterations"]', '50');
  await page.fill('[data-testid="setting-convergence-tol"]', '0.000001');
  await page.click('[data-testid="run-start"]');
  await page.waitForFunction(
    () => Number(document.querySelector('[data-testid="convergence-chart"]').dataset.points) >= 1,
    null,
    { timeout: 60_000 },
  );
  await page.click('[data-testid="run-pause"]');
  await waitState(page, 'paused');
  const atPause = Number(await page.getAttribute('[data-testid="convergence-chart"]', 'data-points'));
  await page.waitForTimeout(500);
  assert.equal(
    Number(await page.getAttribute('[data-testid="convergence-chart"]', 'data-points')),
    atPause,
    'no iterations while paused',
  );
  await page.click('[data-testid="run-resume"]');
  await waitState(page, 'running');
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-testid="convergence-chart"]').dataset.points) > n,
    atPause,
    { timeout: 60_000 },
  );
  await page.click('[data-testid="run-stop"]');
  await waitState(page, 'complete');
  assert.equal(await page.getAttribute('[data-testid="run-status"]', 'data-partial'), 'true');
  const files = await downloadZip(page);
  const results = JSON.parse(strFromU8(files['results.json']));
  assert.equal(results.partial, true);
  assert.equal(results.cell_indices.length, 20);
  assert.ok(results.iterations < 50);
  check();
  await context.close();
});

test('readable at a glance: titled axes, visible help, no internal jargon, the final kernel as the results give it', async () => {
  const { page, context, check } = await openPage(harness.base);
  await loadDemo(page, 12);
  // Every setting explains itself without a click, and nothing speaks of schemas or engines.
  for (const id of ['upsample-target', 'max-iterations', 'hp-filter', 'lp-filter', 'num-subsets', 'seed']) {
    assert.ok(await page.isVisible(`[data-testid="setting-${id}-help"]`), `help of ${id} is visible`);
  }
  const text = await page.textContent('body');
  assert.doesNotMatch(text, /schemas\/|IndecaRun|Engine:/);
  for (const id of ['run', 'result', 'settings', 'raster', 'convergence', 'taus', 'kernel', 'hists', 'trace']) {
    await page.click(`[data-testid="help-${id}"]`);
    assert.ok(await page.isVisible(`[data-testid="help-${id}-text"]`), `help for ${id} opens`);
  }
  await page.fill('[data-testid="setting-max-iterations"]', '3');
  await page.click('[data-testid="run-start"]');
  await waitState(page, 'complete');
  assert.equal(
    await page.getAttribute('[data-testid="convergence-chart"]', 'data-axes'),
    'Iteration | change (log scale) | R², PVE',
  );
  assert.equal(
    await page.getAttribute('[data-testid="tau-chart"]', 'data-axes'),
    'Iteration | time constant (s, log scale)',
  );
  assert.equal(
    await page.getAttribute('[data-testid="kernel-chart"]', 'data-axes'),
    'Time after a spike (s) | kernel (peak 1)',
  );
  assert.equal(await page.getAttribute('[data-testid="hist-rate"]', 'data-axes'), 'Event rate (Hz) | cells');
  assert.match(
    await page.getAttribute('[data-testid="trace-chart"]', 'data-axes'),
    /Time \(s\) \| F \(a\.u\.\) \| spikes \/ frame/,
  );
  assert.match(await page.textContent('[data-testid="trace-legend"]'), /fit \(upper panel\).*activity \(lower panel\)/);
  // The Result panel and the kernel view show the final kernel exactly as results.json has it.
  const files = await downloadZip(page);
  const results = JSON.parse(strFromU8(files['results.json']));
  assert.equal(Number(await page.getAttribute('[data-testid="final-kernel"]', 'data-tau-rise')), results.tau_rise);
  assert.equal(Number(await page.getAttribute('[data-testid="final-kernel"]', 'data-tau-decay')), results.tau_decay);
  assert.equal(await page.textContent('[data-testid="fit-quality"]'), results.fit_quality);
  assert.match(
    await page.textContent('[data-testid="final-kernel"]'),
    new RegExp(`kernel R²${String(+results.kernel_r2.toFixed(4)).replace('.', '\\.')}`),
  );
  assert.equal(await page.getAttribute('[data-testid="kernel-chart"]', 'data-final'), 'true');
  check();
  await context.close();
});

test('progress moves within the first iteration, and Stop ends a run at once', async () => {
  const { page, context, check } = await openPage(harness.base);
  // Enough cells that the first iteration spans several 150 ms worker slices on a fast machine too.
  await loadDemo(page, 200);
  await page.evaluate(() => {
    window.__progress = [];
    new MutationObserver(() => {
      const conv = document.querySelector('[data-testid="convergence-chart"]');
      window.__progress.push([
        Number(document.querySelector('[data-testid="progress"]').value),
        Number(conv.dataset.points),
      ]);
    }).observe(document.querySelector('[data-testid="progress-label"]'), {
      childList: true,
      characterData: true,
      subtree: true,
    });
  });
  await page.fill('[data-testid="setting-max-iterations"]', '50');
  await page.fill('[data-testid="setting-convergence-tol"]', '0.000001');
  await page.click('[data-testid="run-start"]');
  await page.waitForFunction(
    () => Number(document.querySelector('[data-testid="convergence-chart"]').dataset.points) >= 1,
    null,
    { timeout: 60_000 },
  );
  const before = await page.evaluate(() => window.__progress.filter(([, pts]) => pts === 0).map(([v]) => v));
  assert.ok(
    new Set(before).size >= 3 && before.some((v) => v > 0),
    `several progress steps before the first iteration ended: ${before}`,
  );
  // Stop while an iteration is being worked on: the run completes with the last finished iteration's kernel.
  await page.waitForFunction(
    () =>
      /Iteration \d+ of at most 50: [1-9]/.test(document.querySelector('[data-testid="progress-label"]').textContent),
    null,
    { timeout: 60_000 },
  );
  const done = Number(await page.getAttribute('[data-testid="convergence-chart"]', 'data-points'));
  await page.click('[data-testid="run-stop"]');
  await waitState(page, 'complete', 10_000);
  assert.equal(await page.getAttribute('[data-testid="run-status"]', 'data-partial'), 'true');
  const results = JSON.parse(strFromU8((await downloadZip(page))['results.json']));
  assert.ok(
    results.partial && results.iterations >= done && results.iterations <= done + 1,
    `stopped after ${results.iterations} iteration(s)`,
  );
  check();
  await context.close();
});

test('settings are validated against the schema', async () => {
  const { page, context, check } = await openPage(harness.base);
  await loadDemo(page, 4);
  await page.fill('[data-testid="setting-target-coverage"]', '1.5');
  assert.match(
    await page.textContent('[data-testid="settings-error"]'),
    /target_coverage = 1\.5 is out of range; valid: > 0 and <= 1/,
  );
  assert.ok(await page.isDisabled('[data-testid="run-start"]'));
  await page.fill('[data-testid="setting-target-coverage"]', '0.5');
  assert.ok(await page.isHidden('[data-testid="settings-error"]'));
  assert.ok(!(await page.isDisabled('[data-testid="run-start"]')));
  // Every setting named in the issue has a labelled input.
  for (const id of [
    'num-subsets',
    'target-coverage',
    'aspect-ratio',
    'seed',
    'upsample-target',
    'max-iterations',
    'convergence-tol',
    'patience',
    'hp-filter',
    'lp-filter',
  ]) {
    const label = await page.textContent(`label[for="setting-${id}"]`);
    assert.ok(label && label.trim().length > 0, `setting-${id} has a label`);
  }
  check();
  await context.close();
});

/** A MAT v5 file with one double matrix (written here independently of the app's writer). */
function matV5(name, rows, cols, rowMajor) {
  const pad = (n) => (n + 7) & ~7;
  const dataBytes = rows * cols * 8;
  const body = 16 + 16 + 8 + pad(name.length) + 8 + dataBytes;
  const out = Buffer.alloc(128 + 8 + body);
  out.write('MATLAB 5.0 MAT-file, e2e'.padEnd(116, ' '), 0, 'latin1');
  out.writeUInt16LE(0x0100, 124);
  out.write('IM', 126, 'latin1');
  let o = 128;
  const tag = (t, n) => {
    out.writeUInt32LE(t, o);
    out.writeUInt32LE(n, o + 4);
    o += 8;
  };
  tag(14, body);
  tag(6, 8);
  out.writeUInt32LE(6, o);
  o += 8;
  tag(5, 8);
  out.writeInt32LE(rows, o);
  out.writeInt32LE(cols, o + 4);
  o += 8;
  tag(1, name.length);
  out.write(name, o, 'latin1');
  o += pad(name.length);
  tag(9, dataBytes);
  for (let c = 0; c < cols; c++)
    for (let r = 0; r < rows; r++) {
      out.writeDoubleLE(rowMajor[r * cols + c], o);
      o += 8;
    }
  return out;
}

const hasScipy = pythonCan('import scipy.io');

test('.mat input gives .mat activity', async () => {
  const traces = readNpy(readFileSync(path.join(fixtures, 'e2e_traces.npy')));
  const [rows, cols] = traces.shape;
  const { page, context, check } = await openPage(harness.base);
  await page.setInputFiles('[data-testid="file-input"]', {
    name: 'rec.mat',
    mimeType: 'application/octet-stream',
    buffer: matV5('traces', rows, cols, traces.data),
  });
  await page.waitForSelector('[data-testid="import-confirm"]');
  assert.equal(await page.textContent('[data-testid="import-confirm"]'), 'Deconvolve these traces');
  await page.fill('[data-testid="fs-input"]', '30');
  await page.click('[data-testid="import-confirm"]');
  await page.fill('[data-testid="setting-max-iterations"]', '2');
  await page.click('[data-testid="run-start"]');
  await waitState(page, 'complete');
  const files = await downloadZip(page);
  assert.deepEqual(Object.keys(files).sort(), ['activity.mat', 'iterations.json', 'results.json']);
  const mat = files['activity.mat'];
  assert.match(Buffer.from(mat.subarray(0, 10)).toString('latin1'), /^MATLAB 5\.0/);
  assert.equal(Buffer.from(mat.subarray(126, 128)).toString('latin1'), 'IM');
  const results = JSON.parse(strFromU8(files['results.json']));
  assert.equal(results.provenance.activity_file, 'activity.mat');
  assert.equal(results.provenance.source_filename, 'rec.mat');
  if (hasScipy) {
    // scipy reads what the app wrote: shape, dtype and the 1-based cell indices.
    const code =
      'import sys, json, scipy.io as s; import io; d = s.loadmat(io.BytesIO(sys.stdin.buffer.read())); a = d["activity"]; print(json.dumps([list(a.shape), str(a.dtype), d["cell_indices"].ravel().tolist(), float(a.sum())]))';
    const r = spawnSync(python, ['-c', code], { input: Buffer.from(mat) });
    assert.equal(r.status, 0, r.stderr?.toString());
    const [shape, dtype, idx, sum] = JSON.parse(r.stdout.toString());
    assert.deepEqual(shape, [rows, cols]);
    assert.equal(dtype, 'float32');
    assert.deepEqual(
      idx,
      [...Array(rows).keys()].map((i) => i + 1),
    );
    assert.ok(sum > 0);
  }
  check();
  await context.close();
});

test('bridge mode: session config, autorun, progress, activity and results posted', async () => {
  const token = 'e2e-secret';
  const npy = readFileSync(path.join(fixtures, 'e2e_traces.npy'));
  const got = { heartbeats: 0, progress: [], activity: null, results: null, order: [], badTokens: 0 };
  const session = {
    protocol_version: 1,
    app: 'cadecon',
    fs: 30,
    num_cells: 12,
    num_timepoints: 1500,
    cell_ids: [...Array(12).keys()].map((i) => 100 + i),
    source: 'rec.npy',
    config: { autorun: true, max_iterations: 3, seed: 5, num_subsets: 3 },
  };
  const { server: bridge, url: bridgeUrl } = await fakeBridge({
    token,
    session,
    traces: npy,
    got,
    posts: {
      progress: (body) => got.progress.push(JSON.parse(body.toString())),
      activity: (body) => {
        got.order.push('activity');
        got.activity = body;
      },
      results: (body) => {
        got.order.push('results');
        got.results = JSON.parse(body.toString());
      },
    },
  });
  // Closed whatever happens: an open server or page after a failed assertion keeps the run alive.
  let context;
  try {
    const opened = await openPage(`${harness.base}#bridge=${encodeURIComponent(bridgeUrl)}&token=${token}`);
    context = opened.context;
    const { page, check } = opened;
    await waitState(page, 'complete');
    await page.waitForFunction(() =>
      document.querySelector('[data-testid="bridge-status"]').textContent.includes('sent to Python'),
    );
    assert.deepEqual(got.order, ['activity', 'results']);
    const act = readNpy(got.activity);
    assert.equal(act.descr, '<f4');
    assert.deepEqual(act.shape, [12, 1500]);
    const r = got.results;
    assert.equal(r.schema_version, '1.1.0');
    const validate = resultsValidator();
    assert.ok(validate(r), JSON.stringify(validate.errors));
    assert.deepEqual(r.cell_indices, [...Array(12).keys()]);
    assert.deepEqual(
      r.provenance.cell_ids,
      [...Array(12).keys()].map((i) => 100 + i),
    );
    assert.equal(r.config.max_iterations, 3);
    assert.equal(r.config.seed, 5);
    assert.equal(r.config.num_subsets, 3);
    assert.equal(r.partial, false);
    assert.ok(got.progress.length >= 2, 'progress posted');
    for (const p of got.progress)
      assert.ok(
        typeof p.phase === 'string' &&
          p.fraction >= 0 &&
          p.fraction <= 1 &&
          Object.keys(p).every((k) => ['phase', 'fraction', 'message'].includes(k)),
        JSON.stringify(p),
      );
    assert.ok(got.heartbeats >= 1);
    assert.equal(got.badTokens, 0);
    assert.equal(await page.inputValue('[data-testid="setting-seed"]'), '5');
    check();
  } finally {
    await context?.close();
    bridge.close();
    bridge.closeAllConnections?.();
  }
});

// The real round trip: calab.decon() in Python serves this build, the browser runs with autorun and posts
// activity and results back. Skipped when the project venv with calab is not there.
const hasCalab = pythonCan('import calab; calab.decon; from calab.cadecon import DeconConfig');
const DECON = `
import json, sys
import numpy as np
import calab
traces = np.load(sys.argv[1])
r = calab.decon(traces, fs=30.0, open_browser=False, timeout=120, autorun=True, max_iterations=2, seed=3,
                workers=1, progress=False, on_ready=lambda url: print("URL " + url, flush=True))
out = None if r is None else {"shape": list(r.activity.shape), "sum": float(r.activity.sum()),
      "cells": r.metadata["cell_indices"], "seed": r.metadata["config"]["seed"], "partial": r.metadata["partial"],
      "workers": r.metadata["provenance"]["workers"]}
print("RESULT " + json.dumps(out), flush=True)
`;

test('Python bridge round trip: calab.decon returns the browser run', {
  skip: !hasCalab && `${python} with calab.decon not available`,
}, async () => {
  const py = runPython(DECON, [path.join(fixtures, 'e2e_traces.npy')]);
  const urlP = py.line('URL ');
  const resultP = py.line('RESULT ');
  try {
    const { page, context, check } = await openPage(await urlP);
    await waitState(page, 'complete');
    const r = JSON.parse(await resultP);
    assert.ok(r, 'decon() returned a result');
    assert.deepEqual(r.shape, [12, 1500]);
    assert.deepEqual(r.cells, [...Array(12).keys()]);
    assert.equal(r.seed, 3);
    assert.equal(r.partial, false);
    assert.equal(r.workers, 1, 'calab.decon(workers=1) reached the run');
    assert.ok(r.sum > 0);
    check();
    await context.close();
  } finally {
    py.stop();
  }
});

hostileFilesTest(harness);
