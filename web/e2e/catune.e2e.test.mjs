// End-to-end smoke test of the built CaTune app in Debian's headless Chromium (playwright-core; no browser
// download). It serves python/calab/_webapp/catune from a sub-path on a local static server (proving the
// relative base), fails on any page error or console error, and walks the main flows: demo, parameter
// change, JSON export validated against schemas/catune-export.schema.json, a numpy-written .npy through the
// file input, corrupt files, and bridge mode against a fake Python bridge.
// Run: `npm run e2e` (builds first). Serving and browser set-up: harness.mjs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { fakeBridge, hostileFilesTest, python, pythonCan, repo, runPython, useApp } from './harness.mjs';

const fixtures = path.join(repo, 'web', 'test', 'fixtures');
const schema = JSON.parse(readFileSync(path.join(repo, 'schemas', 'catune-export.schema.json'), 'utf8'));

function validator() {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  (addFormatsModule.default ?? addFormatsModule)(ajv);
  return ajv.compile(schema);
}

const harness = useApp('catune');
const { openPage } = harness;

/**
 * From now on, collects in `window.__seen` every status a card passes through: the old value of each
 * change as well, since a card can go stale and (its job sent at once) solving within one task.
 */
async function watchStatuses(page) {
  await page.evaluate(() => {
    window.__seen = new Set();
    new MutationObserver((ms) =>
      ms.forEach((m) => {
        window.__seen.add(m.oldValue);
        window.__seen.add(m.target.dataset.status);
      }),
    ).observe(document.querySelector('[data-testid="cell-grid"]'), {
      subtree: true,
      attributeFilter: ['data-status'],
      attributeOldValue: true,
    });
  });
}

async function waitAllFresh(page, extra = '') {
  await page.waitForFunction(
    (sel) => {
      const cards = [...document.querySelectorAll('[data-testid="cell-card"]')];
      return cards.length > 0 && cards.every((c) => c.dataset.status === 'fresh' && c.matches(sel || '*'));
    },
    extra,
    { timeout: 60_000 },
  );
}

const cardStats = (page) =>
  page.$$eval('[data-testid="cell-card"]', (cs) =>
    cs.map((c) => [c.dataset.cellIndex, c.querySelector('[data-testid="card-stats"]').textContent]),
  );

test('demo: solve, retune, export', async () => {
  const { page, context, check } = await openPage(`${harness.base}?workers=2`);
  await page.fill('#demo-cells', '6');
  await page.click('[data-testid="demo-button"]');
  await waitAllFresh(page);
  assert.equal(await page.locator('[data-testid="cell-card"]').count(), 6);
  const before = await cardStats(page);
  assert.match(await page.textContent('[data-testid="kernel-info"]'), /Peak at .* s · FWHM .* s/);

  // Watch status transitions, then move tau_decay the way a script would (value + input event).
  await watchStatuses(page);
  await page.$eval('[data-testid="param-tau-decay"]', (el) => {
    el.value = '0.8';
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await waitAllFresh(page, '[data-tau-decay="0.8"]');
  const seen = await page.evaluate(() => [...window.__seen]);
  assert.ok(seen.includes('stale'), `cards went stale (saw ${seen})`);
  const afterStats = await cardStats(page);
  assert.equal(afterStats.length, before.length);
  assert.ok(
    afterStats.some(([, s], i) => s !== before[i][1]),
    'numbers changed after tau_decay moved',
  );

  // Lambda via the slider and keyboard: arrow keys step it.
  await page.focus('[data-testid="param-lambda-range"]');
  await page.keyboard.press('ArrowRight');
  const lambda = await page.inputValue('[data-testid="param-lambda"]');
  assert.ok(Number(lambda) > 0.01 && Number(lambda) < 0.011, `one arrow step moves lambda up a little (got ${lambda})`);
  await waitAllFresh(page, `[data-lambda="${lambda}"]`);
  await page.focus('[data-testid="param-tau-decay"]');
  await page.keyboard.press('ArrowUp');
  assert.equal(await page.inputValue('[data-testid="param-tau-decay"]'), '0.84');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.inputValue('[data-testid="param-tau-decay"]'), '0.8');
  await waitAllFresh(page, '[data-tau-decay="0.8"]');

  // Metrics, pin and spectrum panels.
  assert.match(await page.textContent('[data-testid="metrics-panel"]'), /Median r vs truth/);
  assert.match(await page.textContent('[data-testid="card-truth-r"] >> nth=0'), /^r 0\.\d+$/);
  await page.click('[data-testid="pin-button"]');
  assert.match(await page.textContent('[data-testid="pin-info"]'), /Pinned .*τ_decay 0\.8 s/);
  const second = await page.getAttribute('[data-testid="cell-card"] >> nth=1', 'data-cell-index');
  await page.click('[data-testid="cell-card"] >> nth=1 >> [data-testid="inspect-button"]');
  // The spectrum opens under that card's chart, and the button says so.
  await page.waitForFunction(
    (c) => document.querySelector(`[data-cell-index="${c}"] [data-testid="spectrum-panel"]`)?.dataset.cell === c,
    second,
  );
  assert.ok(await page.isVisible(`[data-cell-index="${second}"] [data-testid="spectrum-panel"] canvas`));
  assert.equal(
    await page.getAttribute('[data-testid="cell-card"] >> nth=1 >> [data-testid="inspect-button"]', 'aria-pressed'),
    'true',
  );

  // Dragging across one chart zooms every chart; Reset zoom undoes it.
  const over = await page.locator('[data-testid="cell-card"] >> nth=0 >> .u-over >> nth=0').boundingBox();
  await page.mouse.move(over.x + over.width * 0.2, over.y + over.height / 2);
  await page.mouse.down();
  await page.mouse.move(over.x + over.width * 0.5, over.y + over.height / 2, { steps: 5 });
  await page.mouse.up();
  assert.match(await page.getAttribute('[data-testid="cell-grid"]', 'data-zoom'), /^\d+\.\d+-\d+\.\d+$/);
  await page.click('[data-testid="reset-zoom"]');
  assert.equal(await page.getAttribute('[data-testid="cell-grid"]', 'data-zoom'), '');

  // The filter toggle re-solves everything.
  await page.check('[data-testid="filter-toggle"]');
  await waitAllFresh(page);

  // Invalid parameters are refused with a message and leave the cards alone.
  await page.fill('[data-testid="param-tau-rise"]', '2');
  assert.match(await page.textContent('[data-testid="param-error"]'), /smaller than/);
  await page.fill('[data-testid="param-tau-rise"]', '0.03');
  await waitAllFresh(page, '[data-tau-rise="0.03"]');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="export-json"]')]);
  const doc = JSON.parse(readFileSync(await download.path(), 'utf8'));
  const validate = validator();
  assert.ok(validate(doc), JSON.stringify(validate.errors));
  assert.equal(doc.parameters.tau_decay_s, 0.8);
  assert.equal(doc.parameters.tau_rise_s, 0.03);
  assert.equal(doc.parameters.lambda, Number(lambda));
  assert.equal(doc.parameters.filter_enabled, true);
  assert.equal(doc.metadata.cell_indices.length, 6);
  assert.ok(!(await page.isVisible('[data-testid="export-python"]')), 'no Python export outside bridge mode');

  // Theme switch rebuilds charts without errors.
  await page.click('[data-testid="theme-toggle"]');
  assert.equal((await page.getAttribute('html', 'data-theme')) !== null, true);
  check();
  await context.close();
});

test('long recording: windowed cards, overview strip, whole-trace exact; L0 and Convar solvers with export', async () => {
  const { page, context, check } = await openPage(`${harness.base}?workers=2`);
  await page.fill('#demo-cells', '3');
  await page.fill('[data-testid="demo-duration"]', '900');
  await page.click('[data-testid="demo-button"]');
  await waitAllFresh(page);
  assert.equal(await page.locator('[data-testid="overview"]').count(), 3, 'every card has an overview strip');
  // Only the shown window (plus margin) is solved at first; the whole traces follow in the background.
  const samples = await page.$$eval('[data-testid="cell-card"]', (cs) => cs.map((c) => c.dataset.samples));
  for (const s of samples) assert.match(s, /^0-90[01]$/, `first 30 s shown (${s})`);
  await page.waitForFunction(
    () => [...document.querySelectorAll('[data-testid="cell-card"]')].every((c) => c.dataset.exact === 'true'),
    null,
    { timeout: 60_000 },
  );
  assert.equal(await page.getAttribute('[data-testid="overview"] >> nth=0', 'data-fit'), 'whole');
  // Clicking the middle of the strip moves every card's window there, served by the whole-trace solution.
  const strip = await page.locator('[data-testid="overview"] >> nth=0').boundingBox();
  await page.mouse.click(strip.x + strip.width / 2, strip.y + strip.height / 2);
  await waitAllFresh(page);
  const moved = await page.$$eval('[data-testid="cell-card"]', (cs) =>
    cs.map((c) => Number(c.dataset.samples.split('-')[0])),
  );
  for (const lo of moved) assert.ok(lo > 12000 && lo < 14000, `window moved to the middle (starts at sample ${lo})`);

  // L0: cards go stale, then fresh with the L0 solution. Nothing else changes: L0 has no baseline term,
  // so the app warns that drift removal is off instead of switching it on behind the user's back.
  await watchStatuses(page);
  await page.selectOption('[data-testid="solver-select"]', 'l0');
  assert.ok(await page.isVisible('[data-testid="param-l0-lambda"]'));
  assert.ok(!(await page.isVisible('[data-testid="param-lambda"]')), 'L1 lambda hidden for L0');
  assert.ok(!(await page.isChecked('[data-testid="drift-toggle"]')), 'choosing L0 leaves drift removal alone');
  assert.match(await page.textContent('[data-testid="solver-warning"]'), /no baseline/);
  await page.check('[data-testid="drift-toggle"]');
  assert.ok(!(await page.isVisible('[data-testid="solver-warning"]')), 'the warning goes once drift removal is on');
  await page.fill('[data-testid="param-l0-lambda"]', '0.05');
  await page.uncheck('[data-testid="param-l0-positive"]');
  await waitAllFresh(page, '[data-solver="l0"][data-l0-lambda="0.05"]');
  assert.ok((await page.evaluate(() => [...window.__seen])).includes('stale'), 'cards went stale');
  assert.match(await page.textContent('[data-testid="kernel-info"]'), /AR\(1\) γ = 0\.9/);
  assert.match(await page.textContent('[data-testid="card-stats"] >> nth=0'), /spikes \d+/);
  const validate = validator();
  const exportDoc = async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="export-json"]')]);
    return JSON.parse(readFileSync(await download.path(), 'utf8'));
  };
  const l0 = await exportDoc();
  assert.ok(validate(l0), JSON.stringify(validate.errors));
  assert.equal(l0.schema_version, '1.3.0');
  assert.equal(l0.parameters.solver, 'l0');
  assert.equal(l0.parameters.remove_drift, true);
  assert.deepEqual({ ...l0.parameters.solver_params, gamma: 0 }, { lambda: 0.05, positive: false, gamma: 0 });
  assert.ok(Math.abs(l0.parameters.solver_params.gamma - Math.exp(-1 / (0.4 * 30))) < 1e-12);

  // Convar (pkg/ has it; the worker reports the solvers it can run, and all three are offered).
  const available = (await page.getAttribute('[data-testid="solver-select"]', 'data-available')).split(' ');
  assert.deepEqual(available, ['l1', 'l0', 'convar']);
  assert.ok(!(await page.isDisabled('[data-testid="solver-select"] option[value="convar"]')));
  await page.selectOption('[data-testid="solver-select"]', 'convar');
  await waitAllFresh(page, '[data-solver="convar"]');
  await page.uncheck('[data-testid="param-convar-auto"]');
  await page.fill('[data-testid="param-convar-lambda"]', '0.5');
  await waitAllFresh(page, '[data-solver="convar"]');
  const cv = await exportDoc();
  assert.ok(validate(cv), JSON.stringify(validate.errors));
  assert.equal(cv.parameters.solver, 'convar');
  assert.equal(cv.parameters.solver_params.lambda, 0.5);
  // Back to L1: the export looks like before (no solver_params).
  await page.selectOption('[data-testid="solver-select"]', 'l1');
  await waitAllFresh(page, '[data-solver="l1"]');
  const l1 = await exportDoc();
  assert.ok(validate(l1), JSON.stringify(validate.errors));
  assert.equal(l1.parameters.solver, 'l1');
  assert.ok(!('solver_params' in l1.parameters));
  check();
  await context.close();
});

test('file import: numpy .npy, then corrupt files', async () => {
  const { page, context, check } = await openPage(harness.base);
  await page.setInputFiles('[data-testid="file-input"]', path.join(fixtures, 'e2e_traces.npy'));
  await page.waitForSelector('[data-testid="import-confirm"]');
  assert.match(await page.textContent('[data-testid="import-shape"]'), /12 cells × 1500 timepoints/);
  await page.check('[data-testid="swap-axes"]');
  assert.match(await page.textContent('[data-testid="import-shape"]'), /1500 cells × 12 timepoints/);
  assert.match(await page.textContent('[data-testid="import-report"]'), /swapped/);
  await page.uncheck('[data-testid="swap-axes"]');
  await page.fill('[data-testid="fs-input"]', '30');
  await page.click('[data-testid="import-confirm"]');
  await waitAllFresh(page);
  assert.equal(await page.locator('[data-testid="cell-card"]').count(), 8);
  assert.match(await page.textContent('[data-testid="dataset-label"]'), /e2e_traces\.npy/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="export-json"]')]);
  const doc = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.equal(doc.metadata.source_filename, 'e2e_traces.npy');
  assert.equal(doc.metadata.num_cells, 12);

  await page.click('[data-testid="load-new"]');
  for (const [file, pattern] of [
    ['truncated.npy', /truncated/i],
    ['random.bin', /unrecognised file type/],
    ['v73.mat', /v7\.3.*savemat/s],
  ]) {
    await page.setInputFiles('[data-testid="file-input"]', path.join(fixtures, file));
    await page.waitForSelector('[data-testid="import-error"]:not([hidden])');
    assert.match(await page.textContent('[data-testid="import-error"]'), pattern);
  }
  // Dropping a file works like choosing it; the checks report NaN/Inf repair and constant cells.
  const bytes = [...readFileSync(path.join(fixtures, 'nan_traces.npy'))];
  const dt = await page.evaluateHandle((b) => {
    const d = new DataTransfer();
    d.items.add(new File([new Uint8Array(b)], 'nan_traces.npy'));
    return d;
  }, bytes);
  await page.dispatchEvent('[data-testid="drop-zone"]', 'drop', { dataTransfer: dt });
  await page.waitForSelector('[data-testid="import-confirm"]');
  const report = await page.textContent('[data-testid="import-report"]');
  assert.match(report, /5 NaN and 1 infinite values in 2 cell\(s\) were replaced by linear interpolation/);
  assert.match(report, /1 cell\(s\) are constant/);

  // The page is still usable after the errors.
  await page.setInputFiles('[data-testid="file-input"]', path.join(fixtures, 'v5_compressed.mat'));
  await page.waitForSelector('[data-testid="import-confirm"]');
  check();
  await context.close();
});

test('bridge mode: loads from Python, heartbeats, exports back', async () => {
  const token = 'e2e-secret';
  const npy = readFileSync(path.join(fixtures, 'e2e_traces.npy'));
  const got = { heartbeats: 0, exports: [], badTokens: 0 };
  const session = {
    protocol_version: 1,
    app: 'catune',
    fs: 30,
    num_cells: 12,
    num_timepoints: 1500,
    cell_ids: [...Array(12).keys()],
    source: null,
    config: {},
  };
  const { server: bridge, url: bridgeUrl } = await fakeBridge({
    token,
    session,
    traces: npy,
    got,
    posts: { export: (body) => got.exports.push(JSON.parse(body.toString())) },
  });
  const { page, context, check } = await openPage(
    `${harness.base}#bridge=${encodeURIComponent(bridgeUrl)}&token=${token}`,
  );
  await waitAllFresh(page);
  await page.waitForFunction(() =>
    document.querySelector('[data-testid="bridge-status"]').textContent.includes('Connected'),
  );
  assert.ok(await page.isVisible('[data-testid="export-python"]'));
  await page.click('[data-testid="export-python"]');
  await page.waitForFunction(() =>
    document.querySelector('[data-testid="bridge-status"]').textContent.includes('sent to Python'),
  );
  assert.equal(got.exports.length, 1);
  const validate = validator();
  assert.ok(validate(got.exports[0]), JSON.stringify(validate.errors));
  assert.equal(got.exports[0].metadata.source_filename, null);
  assert.equal(got.exports[0].parameters.sampling_rate_hz, 30);
  assert.ok(got.heartbeats >= 1);
  assert.equal(got.badTokens, 0);
  check();
  await context.close();
  bridge.close();
});

// The real round trip: calab.bridge.tune() in Python serves this build, the browser tunes and exports,
// and Python returns the parameters. Skipped when the project venv with calab is not there.
const hasCalab = pythonCan('import calab.bridge');
const TUNE = `
import json, sys
import numpy as np
from calab.bridge import tune
import calab
traces = np.load(sys.argv[1])
params = tune(traces, fs=30.0, open_browser=False, timeout=120,
              on_ready=lambda url: print("URL " + url, flush=True))
native = None
if params is not None:
    r = calab.run_deconvolution_full(traces, fs=params["fs"], tau_r=params["tau_rise"], tau_d=params["tau_decay"],
                                     lam=params["lambda_"], filter_enabled=params["filter_enabled"],
                                     remove_drift=params["export"]["parameters"].get("remove_drift", False))
    native = {"activity_sum": r.activity.sum(axis=1).tolist(), "baseline": np.ravel(r.baseline).tolist()}
print("RESULT " + json.dumps({"params": {k: v for k, v in params.items() if k != "export"} if params else None, "native": native}), flush=True)
`;

test('Python bridge round trip: calab.bridge.tune returns the exported parameters', {
  skip: !hasCalab && `${python} with calab not available`,
}, async () => {
  const py = runPython(TUNE, [path.join(fixtures, 'e2e_traces.npy')]);
  const urlP = py.line('URL ');
  const resultP = py.line('RESULT ');
  try {
    const { page, context, check } = await openPage(await urlP);
    await waitAllFresh(page);
    await page.fill('[data-testid="param-tau-decay"]', '0.6');
    await page.check('[data-testid="filter-toggle"]');
    await waitAllFresh(page, '[data-tau-decay="0.6"]');
    const browser = await page.$$eval('[data-testid="cell-card"]', (cs) =>
      cs.map((c) => ({
        cell: Number(c.dataset.cellIndex),
        sum: Number(c.dataset.activitySum),
        baseline: Number(c.dataset.baseline),
      })),
    );
    await page.click('[data-testid="export-python"]');
    const { params, native } = JSON.parse(await resultP);
    assert.ok(params, 'tune() returned parameters');
    assert.equal(params.tau_decay, 0.6);
    assert.equal(params.tau_rise, 0.02);
    assert.equal(params.fs, 30);
    assert.equal(params.filter_enabled, true);
    // Browser (wasm, f32 output) and native Python solve the same problem to the same optimum.
    for (const b of browser) {
      const py = native.activity_sum[b.cell];
      assert.ok(
        Math.abs(b.sum - py) <= 1e-3 * Math.max(1, Math.abs(py)),
        `cell ${b.cell}: activity sum browser ${b.sum} vs Python ${py}`,
      );
      assert.ok(
        Math.abs(b.baseline - native.baseline[b.cell]) <= 1e-4,
        `cell ${b.cell}: baseline browser ${b.baseline} vs Python ${native.baseline[b.cell]}`,
      );
    }
    check();
    await context.close();
  } finally {
    py.stop();
  }
});

hostileFilesTest(harness);
