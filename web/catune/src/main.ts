// CaTune entry point: theme, the wasm module for kernel numbers and the demo, the import screen or the
// Python bridge, then the tuning screen. Unexpected errors land in a banner instead of blanking the page.

import 'uplot/dist/uPlot.min.css';
import '../../shared/style.css';
import { $, downloadBlob, installErrorBanner, installTheme } from '../../shared/page';
import type { CaTuneExport } from '../../shared/export';
import { poolSize } from '../../shared/pool';
import { Bridge, bridgeFromLocation } from './bridge';
import type { Dataset } from '../../shared/dataset';
import { renderImport } from '../../shared/importer';
import { Tuner } from './tuner';
import { loadCalabOrExplain, type Calab } from '../../shared/wasm';

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
  downloadBlob(new Blob([JSON.stringify(doc, null, 2) + '\n'], { type: 'application/json' }), 'catune_export.json');
}

async function boot(): Promise<void> {
  const calab = await loadCalabOrExplain(showBanner);
  if (!calab) return;
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
