// CaTune entry point: theme, the wasm module for kernel numbers and the demo, the import screen or the
// Python bridge, then the tuning screen. Unexpected errors land in a banner instead of blanking the page.

import 'uplot/dist/uPlot.min.css';
import '../../shared/style.css';
import { $, downloadBlob, installErrorBanner, installTheme } from '../../shared/page';
import type { CaTuneExport } from '../../shared/export';
import { poolSize } from '../../shared/pool';
import { Bridge, bridgeFromLocation } from './bridge';
import { notReceived, type BridgeState } from '../../shared/bridge';
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
  exportPython.disabled = !bridge || bridge.ended;
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
    let sent = false;
    const setStatus = (text: string, state: BridgeState | 'sent'): void => {
      if (sent) return; // the export arrived; a heartbeat answered after that changes nothing
      sent = state === 'sent';
      bridgeStatus.textContent = text;
      bridgeStatus.className = `bridge-status ${state === 'connected' || state === 'sent' ? 'ok' : 'err'}`;
      bridgeStatus.dataset.state = state;
      if (state === 'ended') {
        exportPython.disabled = true;
        exportPython.title = 'The Python session has ended; use Export JSON to save the parameters.';
      }
    };
    bridge = new Bridge(info, setStatus);
    bridgeStatus.hidden = false;
    exportPython.hidden = false;
    exportPython.addEventListener('click', async () => {
      if (!tuner || !bridge) return;
      exportPython.disabled = true;
      const doc = tuner.exportDoc();
      try {
        await bridge.sendExport(doc);
        setStatus('Parameters sent to Python. You can close this tab.', 'sent');
        bridge.stop();
      } catch (e) {
        // Say plainly that Python did not get them, and keep them: Export JSON still downloads this export.
        const { ended, text } = notReceived(e, 'Parameters');
        setStatus(`${text} Use Export JSON to keep them.`, ended ? 'ended' : 'unreachable');
        showBanner(`${text} Your parameters are not lost: Export JSON downloads them.`);
        exportPython.disabled = ended;
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
