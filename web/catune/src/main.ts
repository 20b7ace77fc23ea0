// CaTune entry point: theme, the wasm module for kernel numbers and the demo, the import screen or the
// Python bridge, then the tuning screen. Unexpected errors land in a banner instead of blanking the page.

import 'uplot/dist/uPlot.min.css';
import './style.css';
import { $, installErrorBanner, installTheme } from '../../shared/page';
import type { CaTuneExport } from '../../shared/export';
import { poolSize } from '../../shared/pool';
import { Bridge, bridgeFromLocation } from './bridge';
import type { Dataset } from './dataset';
import { renderImport } from './importer';
import { Tuner } from './tuner';
import { loadCalab, type Calab } from './wasm';

const app = $('#app');
const banner = $('[data-testid="app-error"]');
const exportJson = $<HTMLButtonElement>('#export-json');
const exportPython = $<HTMLButtonElement>('#export-python');
const loadNew = $<HTMLButtonElement>('#load-new');
const datasetLabel = $('[data-testid="dataset-label"]');
const bridgeStatus = $('[data-testid="bridge-status"]');

const showBanner = installErrorBanner(banner);
let tuner: Tuner | null = null;
const theme = installTheme('catune-theme', $('#theme-toggle'), () => tuner?.rebuildCharts());

const createWorker = (): Worker => new Worker(new URL('../../workers/solver.worker.ts', import.meta.url), { type: 'module', name: 'calab-solver' });
const workers = poolSize(location.search, navigator.hardwareConcurrency);

function startTuning(calab: Calab, dataset: Dataset, bridge: Bridge | null): void {
  tuner?.dispose();
  banner.hidden = true;
  datasetLabel.textContent = dataset.label;
  tuner = new Tuner({ root: app, calab, dataset, createWorker, poolSize: workers, theme });
  exportJson.disabled = false;
  exportPython.disabled = !bridge;
  loadNew.hidden = !!bridge;
}

function download(doc: CaTuneExport): void {
  const blob = new Blob([JSON.stringify(doc, null, 2) + '\n'], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = 'catune_export.json';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function boot(): Promise<void> {
  let calab: Calab;
  try {
    calab = await loadCalab();
  } catch (e) {
    showBanner(`The solver module could not be loaded (${e instanceof Error ? e.message : String(e)}). Is this browser recent enough for WebAssembly?`);
    return;
  }
  const info = bridgeFromLocation(location);
  let bridge: Bridge | null = null;

  exportJson.addEventListener('click', () => { if (tuner) download(tuner.exportDoc()); });
  loadNew.addEventListener('click', () => {
    tuner?.dispose();
    tuner = null;
    exportJson.disabled = true;
    loadNew.hidden = true;
    datasetLabel.textContent = '';
    renderImport(app, calab, (d) => startTuning(calab, d, null));
  });

  if (info) {
    bridge = new Bridge(info, (text, ok) => {
      bridgeStatus.textContent = text;
      bridgeStatus.className = `bridge-status ${ok ? 'ok' : 'err'}`;
    });
    bridgeStatus.hidden = false;
    exportPython.hidden = false;
    exportPython.addEventListener('click', async () => {
      if (!tuner || !bridge) return;
      exportPython.disabled = true;
      try {
        await bridge.sendExport(tuner.exportDoc());
        bridgeStatus.textContent = 'Parameters sent to Python. You can close this tab.';
        bridgeStatus.className = 'bridge-status ok';
        bridge.stop();
      } catch (e) {
        showBanner(`Sending to Python failed: ${e instanceof Error ? e.message : String(e)}`);
        exportPython.disabled = false;
      }
    });
    app.textContent = 'Loading traces from Python…';
    try {
      const dataset = await bridge.load();
      bridge.startHeartbeat();
      startTuning(calab, dataset, bridge);
    } catch (e) {
      app.textContent = '';
      showBanner(`Could not load the traces from Python (${e instanceof Error ? e.message : String(e)}). Is calab.tune() still running?`);
      renderImport(app, calab, (d) => startTuning(calab, d, null));
    }
    return;
  }
  renderImport(app, calab, (d) => startTuning(calab, d, null));
}

void boot();
