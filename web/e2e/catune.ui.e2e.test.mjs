// CaTune's reading aids and controls in Debian's headless Chromium (same harness as catune.e2e.test.mjs; any
// page or console error fails a test): every chart titles its axes, the panels that matter are in view at
// 1280 x 720, each panel's help opens, no card shows NaN anywhere on the parameter ranges, choosing a
// solver changes nothing else, keyboard steps / undo / reset / wheel zoom, the file:// notice, and "Export
// activity": every cell's activity in a ZIP, checked with numpy against the native solver.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { unzipSync, strFromU8 } from 'fflate';
import { repo, useApp } from './harness.mjs';
import { f8Npy } from './hostile.mjs';

const python = process.env.CALAB_PYTHON ?? path.join(repo, '.venv', 'bin', 'python');
const hasCalab =
  existsSync(python) && spawnSync(python, ['-c', 'import calab, scipy.io'], { stdio: 'ignore' }).status === 0;

const harness = useApp('catune');

async function demo(page, cells, seconds) {
  await page.fill('#demo-cells', String(cells));
  await page.fill('[data-testid="demo-duration"]', String(seconds));
  await page.click('[data-testid="demo-button"]');
  await allFresh(page);
}

async function allFresh(page, sel = '') {
  await page.waitForFunction(
    (s) => {
      const cards = [...document.querySelectorAll('[data-testid="cell-card"]')];
      return cards.length > 0 && cards.every((c) => c.dataset.status === 'fresh' && c.matches(s || '*'));
    },
    sel,
    { timeout: 60_000 },
  );
}

/** Loads a traces file through the import screen at `fs` Hz and waits for every card. */
async function importFile(page, file, fs = 30) {
  await page.setInputFiles('[data-testid="file-input"]', file);
  await page.fill('[data-testid="fs-input"]', String(fs));
  await page.click('[data-testid="import-confirm"]');
  await allFresh(page);
}

/** Sets a control the way typing does (value + input event), visible or not. */
const setValue = (page, testid, value) =>
  page.$eval(
    `[data-testid="${testid}"]`,
    (el, v) => {
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
    },
    String(value),
  );

const controlState = (page) =>
  page.evaluate(() => {
    const v = (id) => document.querySelector(`[data-testid="${id}"]`);
    return {
      numbers: ['param-tau-rise', 'param-tau-decay', 'param-lambda', 'param-l0-lambda', 'param-convar-lambda'].map(
        (id) => v(id).value,
      ),
      checks: ['filter-toggle', 'drift-toggle', 'param-l0-positive', 'param-convar-auto'].map((id) => v(id).checked),
    };
  });

test('every chart titles its axes; parameters, kernel, cells and metrics fit 1280 x 720; help opens', async () => {
  const { page, context, check } = await harness.openPage(`${harness.base}?workers=2`);
  await demo(page, 12, 120);
  const axes = await page.$$eval('[data-testid="cell-card"] .chart', (els) => els.map((e) => e.dataset.axes));
  assert.equal(axes.length, 8);
  for (const a of axes) {
    for (const t of ['Time (s)', 'F (a.u.)', 'activity (a.u.)', 'residual (a.u.)'])
      assert.ok(a.includes(t), `card axes "${a}" name ${t}`);
  }
  assert.equal(
    await page.getAttribute('[data-testid="kernel-plot"]', 'data-axes'),
    'Time after a spike (s) | kernel (peak 1)',
  );
  // The legend names the panel (and axis) of every series.
  const legend = await page.textContent('[data-testid="legend"]');
  assert.match(legend, /Upper panel, F \(a\.u\.\):.*raw.*fit.*Lower panel:.*activity.*residual/s);

  // In view without scrolling at 1280 x 720.
  for (const id of [
    'parameters-panel',
    'param-lambda-range',
    'kernel-plot',
    'cells-panel',
    'cell-count',
    'metrics-panel',
    'undo',
    'reset-params',
  ]) {
    const box = await page.locator(`[data-testid="${id}"]`).boundingBox();
    assert.ok(
      box && box.y >= 0 && box.y + Math.min(box.height, 40) <= 720 && box.x + box.width <= 1280,
      `${id} in view: ${JSON.stringify(box)}`,
    );
  }
  // The λ slider spans at most 3 decades over at least 240 px.
  const slider = await page.$eval('[data-testid="param-lambda-range"]', (el) => ({
    decades: Number(el.max) - Number(el.min),
    width: el.getBoundingClientRect().width,
  }));
  assert.ok(slider.width / slider.decades >= 80, `λ slider: ${slider.width} px for ${slider.decades} decades`);

  // "How to read this" for every panel.
  for (const id of ['parameters', 'kernel', 'cards', 'metrics']) {
    assert.ok(!(await page.isVisible(`[data-testid="help-${id}-text"]`)));
    await page.click(`[data-testid="help-${id}"]`);
    assert.ok(await page.isVisible(`[data-testid="help-${id}-text"]`), `help for ${id} shows`);
    assert.equal(await page.getAttribute(`[data-testid="help-${id}"]`, 'aria-expanded'), 'true');
    assert.ok((await page.textContent(`[data-testid="help-${id}-text"]`)).length > 80);
    await page.click(`[data-testid="help-${id}"]`);
  }
  // The spectrum opens under its card, titled, with its own help.
  await page.click('[data-testid="cell-card"] >> nth=0 >> [data-testid="inspect-button"]');
  await page.waitForSelector('[data-testid="cell-card"] >> nth=0 >> [data-testid="spectrum-panel"][data-cell]');
  const spectrumAxes = await page.getAttribute(
    '[data-testid="cell-card"] >> nth=0 >> [data-testid="spectrum-panel"] [data-axes]',
    'data-axes',
  );
  assert.equal(spectrumAxes, 'Frequency (Hz) | power (dB re peak)');
  await page.click('[data-testid="help-spectrum"]');
  assert.ok(await page.isVisible('[data-testid="help-spectrum-text"]'));
  await page.click('[data-testid="cell-card"] >> nth=0 >> [data-testid="inspect-button"]');
  assert.ok(
    !(await page.isVisible('[data-testid="cell-card"] >> nth=0 >> [data-testid="spectrum-panel"]')),
    'the button closes it again',
  );

  // Buttons say what they did.
  await page.click('[data-testid="pin-button"]');
  assert.match(await page.textContent('[data-testid="action-status"]'), /Pinned the fits of 8 cards/);
  assert.match(await page.textContent('[data-testid="legend"]'), /pinned fit/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="export-json"]')]);
  assert.equal(download.suggestedFilename(), 'catune_export.json');
  assert.match(await page.textContent('[data-testid="action-status"]'), /Saved catune_export\.json/);
  // Whole-trace SNR and noise on every card.
  const badges = await page.$$eval('[data-testid="cell-card"]', (cs) =>
    cs.map((c) => [Number(c.dataset.snr), Number(c.dataset.noise)]),
  );
  for (const [snr, noise] of badges) assert.ok(snr > 0 && noise > 0 && Number.isFinite(snr), `SNR ${snr}, σ ${noise}`);
  check();
  await context.close();
});

test('noise and SNR are those of the whole trace: panning a long recording leaves them alone', async () => {
  const { page, context, check } = await harness.openPage(`${harness.base}?workers=2`);
  await demo(page, 2, 600);
  const read = () => page.$$eval('[data-testid="cell-card"]', (cs) => cs.map((c) => [c.dataset.snr, c.dataset.noise]));
  const first = await read();
  const strip = await page.locator('[data-testid="overview"] >> nth=0').boundingBox();
  await page.mouse.click(strip.x + strip.width * 0.8, strip.y + strip.height / 2);
  await allFresh(page);
  assert.notEqual(await page.getAttribute('[data-testid="cell-grid"]', 'data-view'), '0.00-30.00');
  assert.deepEqual(await read(), first);
  check();
  await context.close();
});

test('no card shows NaN at the ends of any slider, for any solver', async () => {
  const { page, context, check } = await harness.openPage(`${harness.base}?workers=2`);
  await demo(page, 3, 60);
  const available = (await page.getAttribute('[data-testid="solver-select"]', 'data-available')).split(' ');
  const sliders = {
    l1: ['param-tau-rise', 'param-tau-decay', 'param-lambda'],
    l0: ['param-tau-decay', 'param-l0-lambda'],
    convar: ['param-tau-decay'],
  };
  const problems = [];
  for (const solver of ['l1', 'l0', 'convar'].filter((s) => available.includes(s))) {
    await page.selectOption('[data-testid="solver-select"]', solver);
    await allFresh(page, `[data-solver="${solver}"]`);
    for (const id of sliders[solver]) {
      for (const key of ['Home', 'End', 'Home']) {
        await page.focus(`[data-testid="${id}-range"]`);
        await page.keyboard.press(key);
        const refused = await page.isVisible('[data-testid="param-error"]');
        if (!refused) await allFresh(page, `[data-solver="${solver}"]`);
        const texts = await page.$$eval('[data-testid="cell-card"]', (cs) =>
          cs.map((c) => ({
            text: c.querySelector('header').textContent,
            sum: c.dataset.activitySum,
            baseline: c.dataset.baseline,
            snr: c.dataset.snr,
          })),
        );
        const panel = await page.textContent('[data-testid="metrics-panel"]');
        for (const t of texts) {
          if (/NaN|Infinity/.test(t.text) || !Number.isFinite(Number(t.sum)) || !Number.isFinite(Number(t.baseline)))
            problems.push(`${solver} ${id} ${key}: ${JSON.stringify(t)}`);
        }
        if (/NaN|Infinity/.test(panel)) problems.push(`${solver} ${id} ${key}: metrics ${panel}`);
      }
      // Back to the default so the next slider starts from a sensible place.
      await page.click('[data-testid="reset-params"]');
    }
  }
  assert.deepEqual(problems, []);
  check();
  await context.close();
});

test('choosing a solver changes nothing else, and Convar says what it is for', async () => {
  const { page, context, check } = await harness.openPage(`${harness.base}?workers=2`);
  await demo(page, 3, 60);
  for (const [id, v] of [
    ['param-tau-rise', '0.03'],
    ['param-tau-decay', '0.7'],
    ['param-lambda', '0.05'],
    ['param-l0-lambda', '0.1'],
  ])
    await setValue(page, id, v);
  await page.check('[data-testid="filter-toggle"]');
  await allFresh(page, '[data-tau-decay="0.7"]');
  const before = await controlState(page);
  const available = (await page.getAttribute('[data-testid="solver-select"]', 'data-available')).split(' ');
  for (const solver of ['l0', 'l1', 'convar', 'l0', 'l1'].filter((s) => available.includes(s))) {
    await page.selectOption('[data-testid="solver-select"]', solver);
    assert.deepEqual(await controlState(page), before, `switching to ${solver} left every other control as it was`);
    if (solver === 'convar') assert.match(await page.textContent('[data-testid="solver-note"]'), /wide-field/);
    await allFresh(page, `[data-solver="${solver}"]`);
  }
  assert.match(await page.textContent('[data-testid="solver-select"] option[value="convar"]'), /wide-field/);
  // The export records exactly the settings left in place.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="export-json"]')]);
  const doc = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.deepEqual(
    [
      doc.parameters.tau_rise_s,
      doc.parameters.tau_decay_s,
      doc.parameters.lambda,
      doc.parameters.filter_enabled,
      doc.parameters.remove_drift,
    ],
    [0.03, 0.7, 0.05, true, false],
  );
  check();
  await context.close();
});

test('keyboard steps, undo, reset and wheel zoom', async () => {
  const { page, context, check } = await harness.openPage(`${harness.base}?workers=2`);
  await demo(page, 3, 60);
  const lambda = () => page.inputValue('[data-testid="param-lambda"]').then(Number);
  await page.focus('[data-testid="param-lambda-range"]');
  await page.keyboard.press('ArrowRight');
  assert.equal(await lambda(), 0.0105, 'an arrow key steps ~5 %');
  await page.keyboard.press('PageUp');
  assert.equal(await lambda(), 0.0166, 'Page Up steps ~58 %');
  // A decade takes 50 arrow presses, 5 Page Up presses.
  for (let i = 0; i < 5; i++) await page.keyboard.press('PageUp');
  assert.ok(
    Math.abs(Math.log10(await lambda()) - Math.log10(0.166)) < 0.01,
    `five Page Ups make a decade (${await lambda()})`,
  );
  await allFresh(page, `[data-lambda="${await lambda()}"]`);
  // The keyboard burst was one change: Undo goes back to where it started; Ctrl+Z too.
  await page.click('[data-testid="undo"]');
  assert.equal(await lambda(), 0.01);
  assert.match(await page.textContent('[data-testid="action-status"]'), /Undone: λ 0\.1\d+ → 0\.01\./);
  assert.ok(await page.isDisabled('[data-testid="undo"]'));
  await setValue(page, 'param-tau-decay', '0.9');
  await page.waitForTimeout(900);
  await setValue(page, 'param-lambda', '0.2');
  await allFresh(page, '[data-lambda="0.2"]');
  await page.focus('[data-testid="param-lambda-range"]');
  await page.keyboard.press('Control+z');
  assert.equal(await lambda(), 0.01);
  assert.equal(await page.inputValue('[data-testid="param-tau-decay"]'), '0.9');
  await page.click('[data-testid="reset-params"]');
  assert.equal(await page.inputValue('[data-testid="param-tau-decay"]'), '0.4');
  await allFresh(page, '[data-tau-decay="0.4"]');
  await page.click('[data-testid="undo"]');
  assert.equal(await page.inputValue('[data-testid="param-tau-decay"]'), '0.9', 'Reset is undoable');
  await allFresh(page, '[data-tau-decay="0.9"]');

  // Ctrl + wheel zooms every card around the pointer; plain wheel leaves the charts alone; Reset zoom.
  const over = await page.locator('[data-testid="cell-card"] >> nth=0 >> .u-over >> nth=0').boundingBox();
  await page.mouse.move(over.x + over.width * 0.5, over.y + over.height / 2);
  await page.mouse.wheel(0, 100);
  assert.equal(await page.getAttribute('[data-testid="cell-grid"]', 'data-zoom'), '', 'plain wheel does not zoom');
  await page.keyboard.down('Control');
  await page.mouse.wheel(0, -100);
  await page.keyboard.up('Control');
  const zoom = await page.getAttribute('[data-testid="cell-grid"]', 'data-zoom');
  const [a, b] = zoom.split('-').map(Number);
  assert.ok(b - a < 59 && a > 0, `zoomed in around the middle: ${zoom}`);
  assert.ok(!(await page.isDisabled('[data-testid="reset-zoom"]')));
  await page.click('[data-testid="reset-zoom"]');
  assert.equal(await page.getAttribute('[data-testid="cell-grid"]', 'data-zoom'), '');
  check();
  await context.close();
});

test('opened from file://, the page says how to start the app', async () => {
  const { page, context } = await harness.openPage('about:blank');
  for (const app of ['catune', 'cadecon']) {
    await page.goto(pathToFileURL(path.join(repo, 'python', 'calab', '_webapp', app, 'index.html')).href);
    await page.waitForSelector('[data-testid="file-warning"]');
    assert.match(
      await page.textContent('[data-testid="file-warning"]'),
      new RegExp(`cannot run from a file:// page.*calab app ${app}.*http\\.server`, 's'),
    );
  }
  await context.close();
});

/** Runs `code` with the venv's Python on `args`; returns its last stdout line parsed as JSON. */
function py(code, ...args) {
  const r = spawnSync(python, ['-c', code, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

const COMPARE = `
import json, sys, numpy as np, scipy.io, calab
act_path, doc_path, traces_path = sys.argv[1:4]
doc = json.load(open(doc_path))
p = doc["parameters"]
act = scipy.io.loadmat(act_path)["activity"] if act_path.endswith(".mat") else np.load(act_path)
traces = scipy.io.loadmat(traces_path)["traces"] if traces_path.endswith(".mat") else np.load(traces_path)
native = calab.run_deconvolution(traces.astype(np.float64), fs=p["sampling_rate_hz"], tau_r=p["tau_rise_s"], tau_d=p["tau_decay_s"],
                                 lam=p["lambda"], filter_enabled=p["filter_enabled"], remove_drift=p["remove_drift"])
scale = float(np.abs(native).max())
print(json.dumps({"dtype": str(act.dtype), "shape": list(act.shape), "max_diff": float(np.abs(act - native).max()), "scale": scale,
                  "sum_diff": float(np.abs(act.sum(axis=1) - native.sum(axis=1)).max())}))
`;

/** A float32 .npy of Python's simulator (`calab.presets.<preset>`), cells x frames, in a fresh folder. */
function simulatedNpy(preset, cells, frames, seed) {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'catune-input-')), 'rec.npy');
  py(
    `import sys, numpy as np, calab, json
sim = calab.simulate(calab.presets.${preset}(num_cells=${cells}, num_timepoints=${frames}, seed=${seed}))
np.save(sys.argv[1], sim.traces.astype(np.float32)); print(json.dumps(1))`,
    file,
  );
  return file;
}

function unzipDownload(file) {
  const files = unzipSync(new Uint8Array(readFileSync(file)));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'catune-activity-'));
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(dir, name), bytes);
  return { dir, names: Object.keys(files).sort(), files };
}

test('Export activity: every cell (not only those shown), with progress, equal to the native solver', {
  skip: !hasCalab && `${python} with calab and scipy not available`,
}, async () => {
  const { page, context, check } = await harness.openPage(`${harness.base}?workers=2`);
  const tracesPath = simulatedNpy('gcamp6f', 10, 1800, 2);
  await importFile(page, tracesPath);
  await setValue(page, 'cell-count', '3');
  await setValue(page, 'param-lambda', '0.02');
  await page.check('[data-testid="drift-toggle"]');
  await allFresh(page, '[data-lambda="0.02"]');
  assert.equal(await page.locator('[data-testid="cell-card"]').count(), 3);
  const seen = [];
  await page.exposeFunction('__status', (t) => seen.push(t));
  await page.evaluate(() =>
    new MutationObserver(() =>
      window.__status(document.querySelector('[data-testid="action-status"]').textContent),
    ).observe(document.querySelector('[data-testid="action-status"]'), {
      childList: true,
      characterData: true,
      subtree: true,
    }),
  );
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 60_000 }),
    page.click('[data-testid="export-activity"]'),
  ]);
  assert.equal(download.suggestedFilename(), 'catune_activity.zip');
  const zip = unzipDownload(await download.path());
  assert.deepEqual(zip.names, ['README.txt', 'activity.npy', 'catune_export.json']);
  assert.ok(
    seen.some((t) => /solving every cell .* of 10 done/.test(t)),
    `progress shown: ${seen.join(' | ')}`,
  );
  assert.match(
    await page.textContent('[data-testid="action-status"]'),
    /Saved catune_activity\.zip: activity\.npy \(10 cells × 1800 frames\)/,
  );
  const doc = JSON.parse(strFromU8(zip.files['catune_export.json']));
  assert.equal(doc.parameters.lambda, 0.02);
  assert.equal(doc.parameters.remove_drift, true);
  const cmp = py(COMPARE, path.join(zip.dir, 'activity.npy'), path.join(zip.dir, 'catune_export.json'), tracesPath);
  assert.deepEqual([cmp.dtype, cmp.shape], ['float32', [10, 1800]]);
  assert.ok(cmp.max_diff <= 2e-3 * cmp.scale, `browser vs native: max |Δ| ${cmp.max_diff} (scale ${cmp.scale})`);
  check();
  await context.close();
});

test('Export activity of a .mat recording is a .mat file', {
  skip: !hasCalab && `${python} with calab and scipy not available`,
}, async () => {
  const { page, context, check } = await harness.openPage(`${harness.base}?workers=2`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'catune-input-'));
  const matPath = path.join(dir, 'rec.mat');
  py(
    `import sys, numpy as np, scipy.io, calab, json
sim = calab.simulate(calab.presets.gcamp6f(num_cells=4, num_timepoints=900, seed=3))
scipy.io.savemat(sys.argv[1], {"traces": sim.traces}); print(json.dumps(1))`,
    matPath,
  );
  await importFile(page, matPath);
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 60_000 }),
    page.click('[data-testid="export-activity"]'),
  ]);
  const zip = unzipDownload(await download.path());
  assert.deepEqual(zip.names, ['README.txt', 'activity.mat', 'catune_export.json']);
  const cmp = py(COMPARE, path.join(zip.dir, 'activity.mat'), path.join(zip.dir, 'catune_export.json'), matPath);
  assert.deepEqual([cmp.dtype, cmp.shape], ['float32', [4, 900]]);
  assert.ok(cmp.max_diff <= 2e-3 * cmp.scale, `browser vs native: max |Δ| ${cmp.max_diff} (scale ${cmp.scale})`);
  check();
  await context.close();
});

// ---------------------------------------------------------------- Estimate from data

/** The simulator preset (the demo's ground truth), from the same pkg/ the app runs. */
/** A simulator preset as the app's demo uses it (its kernel, its frame rate). */
async function preset(name) {
  const wasm = await import(pathToFileURL(path.join(repo, 'pkg', 'calab_solver.js')).href);
  wasm.initSync({ module: readFileSync(path.join(repo, 'pkg', 'calab_solver_bg.wasm')) });
  return JSON.parse(wasm.preset_json(name));
}

/** Clicks "Estimate from data" and waits for its result line (the InDeCa loop takes seconds on 2 shared cores). */
async function estimate(page) {
  await page.click('[data-testid="estimate-kinetics"]');
  await page.waitForFunction(
    () => {
      const s = document.querySelector('[data-testid="estimate-status"]');
      return !!s?.dataset.tauDecay || !document.querySelector('[data-testid="estimate-error"]').hidden;
    },
    null,
    { timeout: 300_000 },
  );
  assert.ok(
    await page.isHidden('[data-testid="estimate-error"]'),
    `no error: ${await page.textContent('[data-testid="estimate-error"]')}`,
  );
  const ds = await page.$eval('[data-testid="estimate-status"]', (el) => ({ ...el.dataset, text: el.textContent }));
  return { tauRise: Number(ds.tauRise), tauDecay: Number(ds.tauDecay), lambda: Number(ds.lambda), text: ds.text };
}

const num = (page, id) => page.$eval(`[data-testid="${id}"]`, (el) => Number(el.value));

test('Estimate from data on the demo: the preset\u2019s kinetics within 1.5x, λ from the noise, cards re-solved, one Undo step', async () => {
  const { kernel: truth, fs } = await preset('gcamp6m');
  const { page, context, check } = await harness.openPage(`${harness.base}?workers=2`);
  await page.selectOption('[data-testid="demo-preset"]', 'gcamp6m');
  await demo(page, 12, 120);
  const before = await controlState(page);
  await page.click('[data-testid="estimate-kinetics"]');
  // Busy while it runs, in a worker: the page still answers and says what it is doing.
  assert.equal(await page.getAttribute('[data-testid="estimate-kinetics"]', 'aria-busy'), 'true');
  assert.match(await page.textContent('[data-testid="estimate-status"]'), /^Estimating: /);
  await page.waitForFunction(
    () =>
      !!document.querySelector('[data-testid="estimate-status"]').dataset.tauDecay ||
      !document.querySelector('[data-testid="estimate-error"]').hidden,
    null,
    { timeout: 300_000 },
  );
  assert.ok(
    await page.isHidden('[data-testid="estimate-error"]'),
    await page.textContent('[data-testid="estimate-error"]'),
  );
  assert.equal(await page.getAttribute('[data-testid="estimate-kinetics"]', 'aria-busy'), null);
  assert.equal(await page.textContent('[data-testid="estimate-kinetics"]'), 'Estimate from data');

  const tauRise = await num(page, 'param-tau-rise');
  const tauDecay = await num(page, 'param-tau-decay');
  const lambda = await num(page, 'param-lambda');
  // Within 1.5x, or within one frame: the demo's 50 ms rise is 1.5 frames at its 30 Hz, which the
  // recording cannot resolve more finely than a frame (Python's estimate_kinetics gives 0.028-0.043 s
  // over five seeds of this demo).
  const frame = 1 / fs;
  for (const [name, got, want] of [
    ['tau_rise', tauRise, truth.tau_rise],
    ['tau_decay', tauDecay, truth.tau_decay],
  ]) {
    const close = (got >= want / 1.5 && got <= want * 1.5) || Math.abs(got - want) <= frame;
    assert.ok(close, `${name} ${got} within 1.5x or one frame of the demo's ${want}`);
  }
  assert.notDeepEqual([tauRise, tauDecay], before.numbers.slice(0, 2).map(Number), 'the tau controls changed');
  assert.ok(
    lambda > 0 && lambda !== Number(before.numbers[2]),
    `λ set from the noise: ${before.numbers[2]} → ${lambda}`,
  );
  const status = await page.textContent('[data-testid="estimate-status"]');
  assert.match(
    status,
    new RegExp(
      `^From all 12 cells: τ_rise ${tauRise} s, τ_decay ${tauDecay} s.*fit (good|fair|poor) \\(R² [0-9.]+\\).*λ ${lambda} a\\.u\\. from the noise\\.$`,
    ),
  );
  // The warnings list is shown exactly when the estimate has warnings.
  const warn = await page.$eval('[data-testid="estimate-warnings"]', (el) => ({
    hidden: el.hidden,
    items: el.querySelectorAll('li').length,
  }));
  assert.equal(warn.hidden, warn.items === 0);
  // Every card re-solved with the estimate.
  await allFresh(page, `[data-tau-rise="${tauRise}"][data-tau-decay="${tauDecay}"][data-lambda="${lambda}"]`);

  // One undoable change: a single Undo restores every control.
  await page.click('[data-testid="undo"]');
  assert.deepEqual(await controlState(page), before);
  assert.ok(await page.isDisabled('[data-testid="undo"]'));
  await allFresh(page, `[data-tau-decay="${before.numbers[1]}"][data-lambda="${before.numbers[2]}"]`);
  check();
  await context.close();
});

test('Estimate from data: warnings shown, errors visible, and it can be cancelled', async () => {
  const { page, context, check } = await harness.openPage(`${harness.base}?workers=2`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'catune-estimate-'));
  // Pure noise: nothing to learn a kernel from, so the core keeps the defaults and says why.
  let s = 7;
  const rnd = () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
  const [cells, frames] = [4, 1800];
  const noise = Array.from(
    { length: cells * frames },
    () => 0.05 * Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd()),
  );
  const noisePath = path.join(dir, 'noise.npy');
  writeFileSync(noisePath, f8Npy([cells, frames], noise));
  await importFile(page, noisePath);

  // Cancelled at once (two clicks in one task, before the worker can answer): nothing changes.
  const before = await controlState(page);
  await page.$eval('[data-testid="estimate-kinetics"]', (b) => {
    b.click();
    b.click();
  });
  assert.equal(
    await page.textContent('[data-testid="estimate-status"]'),
    'Estimate cancelled; the parameters are unchanged.',
  );
  assert.deepEqual(await controlState(page), before);

  const r = await estimate(page);
  assert.ok(await page.isVisible('[data-testid="estimate-warnings"]'));
  assert.match(await page.textContent('[data-testid="estimate-warnings"]'), /no clear calcium transients/);
  assert.deepEqual([r.tauRise, r.tauDecay], [0.02, 0.4]);
  assert.equal(await num(page, 'param-lambda'), r.lambda);
  assert.ok(r.lambda > 0.01 && r.lambda < 1, `λ from σ 0.05: ${r.lambda}`);
  // Drift removal ticked while an estimate runs (same task as the click): its λ says which preprocessing it is for.
  await page.$eval('[data-testid="estimate-kinetics"]', (b) => {
    b.click();
    document.querySelector('[data-testid="drift-toggle"]').click();
  });
  await page.waitForFunction(() => !!document.querySelector('[data-testid="estimate-status"]').dataset.lambda, null, {
    timeout: 120_000,
  });
  assert.match(
    await page.textContent('[data-testid="estimate-status"]'),
    /λ is for band-pass off and drift removal off, as when the estimate started; estimate again/,
  );
  assert.ok(await page.isChecked('[data-testid="drift-toggle"]'));
  check();
  await context.close();

  // Too short for the loop: the core's refusal is shown, not swallowed.
  const second = await harness.openPage(`${harness.base}?workers=2`);
  const shortPath = path.join(dir, 'short.npy');
  writeFileSync(shortPath, f8Npy([2, 20], noise.slice(0, 40)));
  await importFile(second.page, shortPath);
  const kept = await controlState(second.page);
  await second.page.click('[data-testid="estimate-kinetics"]');
  await second.page.waitForSelector('[data-testid="estimate-error"]:not([hidden])', { timeout: 120_000 });
  assert.match(
    await second.page.textContent('[data-testid="estimate-error"]'),
    /^Estimate from data failed: .*too short.*\(TRACE_TOO_SHORT\)$/,
  );
  assert.deepEqual(await controlState(second.page), kept);
  check();
  second.check();
  await second.context.close();
});

test('Estimate from data equals Python: calab.estimate_kinetics and the automatic λ of run_deconvolution', {
  skip: !hasCalab && `${python} with calab and scipy not available`,
}, async () => {
  const { page, context, check } = await harness.openPage(`${harness.base}?workers=2`);
  const tracesPath = simulatedNpy('gcamp6s', 10, 3600, 11);
  await importFile(page, tracesPath);
  const r = await estimate(page);
  const native = py(
    `import sys, json, numpy as np, calab
y = np.load(sys.argv[1]).astype(np.float64)
est = calab.estimate_kinetics(y, 30.0, warn=False)
r3 = lambda v: float(f"{v:.3g}")
tr, td = r3(est.tau_rise), r3(est.tau_decay)
res = calab.run_deconvolution_full(y, 30.0, tau_r=tr, tau_d=td, lam=None, remove_drift=False)
print(json.dumps({"tau_rise": tr, "tau_decay": td, "lam": float(np.median(res.lam)), "warnings": list(est.warnings)}))`,
    tracesPath,
  );
  assert.deepEqual([r.tauRise, r.tauDecay], [native.tau_rise, native.tau_decay]);
  assert.ok(
    Math.abs(r.lambda - native.lam) <= 5e-3 * native.lam,
    `browser λ ${r.lambda} vs native median ${native.lam}`,
  );
  check();
  await context.close();
});
