// CaTune entry point: theme, the wasm module for kernel numbers and the demo, the import screen or the
// Python bridge, then the tuning screen. Buttons report what they did in the status line of the top bar.
// Unexpected errors land in a banner instead of blanking the page.

import 'uplot/dist/uPlot.min.css';
import '../../shared/style.css';
import { $, downloadBlob, installErrorBanner, installTheme, statusLine } from '../../shared/ui/page';
import type { CaTuneExport } from '../../shared/export';
import { encodeNpy } from '../../shared/npywrite';
import { poolSize } from '../../shared/pool';
import { BRIDGE_STATUS, BridgeClient, type BridgeState, bridgeFromLocation, notReceived } from '../../shared/bridge';
import type { Dataset } from '../../shared/dataset';
import { renderImport } from '../../shared/ui/importer';
import { Tuner } from './tuner';
import { ActivityExportError, activityZip } from './activity';
import { loadCalabOrExplain, type Calab } from '../../shared/wasm';

const app = $('#app');
const banner = $('[data-testid="app-error"]');
const exportJson = $<HTMLButtonElement>('#export-json');
const exportActivity = $<HTMLButtonElement>('#export-activity');
const exportPython = $<HTMLButtonElement>('#export-python');
const loadNew = $<HTMLButtonElement>('#load-new');
const datasetLabel = $('[data-testid="dataset-label"]');
const bridgeStatus = $('[data-testid="bridge-status"]');
const actionStatus = $('[data-testid="action-status"]');

const showBanner = installErrorBanner(banner);
let tuner: Tuner | null = null;
let dataset: Dataset | null = null;
const theme = installTheme('catune-theme', $('#theme-toggle'), () => tuner?.rebuildCharts());

const createWorker = (): Worker =>
  new Worker(new URL('../../workers/solver.worker.ts', import.meta.url), { type: 'module', name: 'calab-solver' });
const workers = poolSize(location.search, navigator.hardwareConcurrency);

/** A short message about what the last button did. */
const notify = statusLine(actionStatus);

const EXPORT_ACTIVITY_LABEL = 'Export activity';
const IMPORT = { confirmLabel: 'Tune these traces' };

function startTuning(calab: Calab, d: Dataset, bridge: BridgeClient | null): void {
  tuner?.dispose();
  banner.hidden = true;
  dataset = d;
  datasetLabel.textContent = d.label;
  tuner = new Tuner({ root: app, calab, dataset: d, createWorker, poolSize: workers, theme, notify });
  exportJson.disabled = false;
  exportActivity.disabled = false;
  exportActivity.textContent = EXPORT_ACTIVITY_LABEL;
  exportPython.disabled = !bridge || bridge.ended;
  loadNew.hidden = !!bridge;
}

function download(doc: CaTuneExport): void {
  downloadBlob(new Blob([JSON.stringify(doc, null, 2) + '\n'], { type: 'application/json' }), 'catune_export.json');
}

/** Solves every cell with the current parameters, showing progress on `button`; null when cancelled. */
async function solveAll(
  button: HTMLButtonElement,
  verb: string,
): Promise<{ activity: Float32Array; doc: CaTuneExport } | null> {
  const t = tuner!;
  const label = button.textContent;
  button.classList.add('busy');
  try {
    return await t.exportActivity((done, total) => {
      button.textContent = done < total ? `Cancel (${done}/${total} cells)` : label;
      notify(`${verb}: solving every cell with the current parameters, ${done} of ${total} done…`);
    });
  } catch (e) {
    if (e instanceof ActivityExportError && e.code === 'CANCELLED') {
      notify(`${verb} cancelled.`);
      return null;
    }
    showBanner(`${verb} failed: ${e instanceof Error ? e.message : String(e)}`);
    return null;
  } finally {
    button.textContent = label;
    button.classList.remove('busy');
  }
}

async function downloadActivity(): Promise<void> {
  if (!tuner || !dataset) return;
  if (tuner.exportBusy) {
    tuner.cancelExport();
    return;
  }
  const got = await solveAll(exportActivity, 'Export activity');
  if (!got) return;
  const format = dataset.sourceFilename?.toLowerCase().endsWith('.mat') ? 'mat' : 'npy';
  const { numCells: n, numTimepoints: T } = dataset.matrix;
  downloadBlob(
    new Blob([activityZip(got.activity, got.doc, format) as BlobPart], { type: 'application/zip' }),
    'catune_activity.zip',
  );
  notify(`Saved catune_activity.zip: activity.${format} (${n} cells × ${T} frames) and catune_export.json.`);
}

async function boot(): Promise<void> {
  const calab = await loadCalabOrExplain(showBanner);
  if (!calab) return;
  const info = bridgeFromLocation(location);
  let bridge: BridgeClient | null = null;
  // Whether calab.tune asked for the activity of every cell along with the parameters (return_activity).
  let wantsActivity = false;

  exportJson.addEventListener('click', () => {
    if (!tuner) return;
    download(tuner.exportDoc());
    notify('Saved catune_export.json (the solver and its parameters).');
  });
  exportActivity.addEventListener('click', () => void downloadActivity());
  loadNew.addEventListener('click', () => {
    tuner?.dispose();
    tuner = null;
    dataset = null;
    exportJson.disabled = true;
    exportActivity.disabled = true;
    loadNew.hidden = true;
    datasetLabel.textContent = '';
    renderImport(app, calab, (d) => startTuning(calab, d, null), IMPORT);
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
    bridge = new BridgeClient(info);
    bridgeStatus.hidden = false;
    exportPython.hidden = false;
    exportPython.addEventListener('click', async () => {
      if (!tuner || !bridge || !dataset) return;
      if (tuner.exportBusy) {
        tuner.cancelExport();
        return;
      }
      // With return_activity the button cancels the solve while it runs, so it stays enabled until then.
      exportPython.disabled = !wantsActivity;
      const what = wantsActivity ? 'Parameters and activity' : 'Parameters';
      try {
        let doc = tuner.exportDoc();
        if (wantsActivity) {
          const got = await solveAll(exportPython, 'Export to Python');
          if (!got) {
            exportPython.disabled = bridge.ended;
            return;
          }
          exportPython.disabled = true;
          doc = got.doc;
          await bridge.postBytes(
            'activity',
            encodeNpy(got.activity, [dataset.matrix.numCells, dataset.matrix.numTimepoints]),
          );
        }
        await bridge.postJson('export', doc);
        setStatus(`${what} sent to Python. You can close this tab.`, 'sent');
        notify('Sent to Python.');
        bridge.stopHeartbeat();
      } catch (e) {
        // Say plainly that Python did not get them, and keep them: Export JSON still downloads this export.
        const { ended, text } = notReceived(e, what);
        const keep = wantsActivity ? 'Export JSON (and Export activity for the activity)' : 'Export JSON';
        setStatus(`${text} Use ${keep} to keep them.`, ended ? 'ended' : 'unreachable');
        showBanner(`${text} Your parameters are not lost: ${keep} downloads them.`);
        exportPython.disabled = ended;
      }
    });
    app.textContent = 'Loading traces from Python…';
    try {
      const { session, dataset: d } = await bridge.loadDataset();
      wantsActivity = session.config?.return_activity === true;
      bridge.startHeartbeat((state) => setStatus(BRIDGE_STATUS[state], state));
      startTuning(calab, d, bridge);
      if (wantsActivity)
        exportPython.title =
          'Solve every cell with the current parameters and send the activity and the parameters to Python';
    } catch (e) {
      app.textContent = '';
      showBanner(
        `Could not load the traces from Python (${e instanceof Error ? e.message : String(e)}). Is calab.tune() still running?`,
      );
      renderImport(app, calab, (d) => startTuning(calab, d, null), IMPORT);
    }
    return;
  }
  renderImport(app, calab, (d) => startTuning(calab, d, null), IMPORT);
}

void boot();
