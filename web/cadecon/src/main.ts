// CaDecon entry point: theme, the wasm module (demo simulator, true kernel), the import screen shared with
// CaTune or the Python bridge, then the run screen. In bridge mode the session's config seeds the settings,
// progress is posted while running, and with autorun the run starts and its results go back by themselves.

import 'uplot/dist/uPlot.min.css';
import '../../shared/style.css';
import './style.css';
import { $, downloadBlob, installErrorBanner, installTheme, statusLine } from '../../shared/ui/page';
import { BRIDGE_STATUS, BridgeClient, type BridgeState, bridgeFromLocation, notReceived } from '../../shared/bridge';
import { encodeNpy } from '../../shared/npywrite';
import type { Dataset } from '../../shared/dataset';
import { renderImport } from '../../shared/ui/importer';
import { loadCalabOrExplain, type Calab } from '../../shared/wasm';
import { DeconScreen } from './app';
import { fromSessionConfig } from './config';
import type { WorkerLike } from './controller';
import { buildZip, resultsDocument } from './export';
import { PHASE_LABEL, type Phase } from '../../shared/indeca-protocol';

const app = $('#app');
const banner = $('[data-testid="app-error"]');
const exportZip = $<HTMLButtonElement>('#export-zip');
const exportPython = $<HTMLButtonElement>('#export-python');
const loadNew = $<HTMLButtonElement>('#load-new');
const datasetLabel = $('[data-testid="dataset-label"]');
const bridgeStatus = $('[data-testid="bridge-status"]');
const actionStatus = $('[data-testid="action-status"]');

/** A short message about what the last button did. */
const notify = statusLine(actionStatus);

const showBanner = installErrorBanner(banner);
let screen: DeconScreen | null = null;
const theme = installTheme('cadecon-theme', $('#theme-toggle'), () => screen?.rebuildCharts());

const createWorker = (): WorkerLike =>
  new Worker(new URL('../../workers/indeca.worker.ts', import.meta.url), {
    type: 'module',
    name: 'calab-indeca',
  }) as unknown as WorkerLike;

/** `?workers=N` caps the workers a run uses (default: one per core); the results do not depend on it. */
function workersFromLocation(loc: Location): number | undefined {
  const n = Number(new URLSearchParams(loc.search).get('workers'));
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}

interface Started {
  dataset: Dataset;
  bridge: BridgeClient | null;
  initial?: Record<string, unknown>;
  autorun?: boolean;
  /** Workers per run from the bridge session (`calab.decon(workers=...)`). */
  workers?: number;
}
let current: Started | null = null;
let sent = false;

/** The simulator's kernel for demo data (the preset's mean taus), for the true-kernel overlays. */
function demoTruth(calab: Calab, d: Dataset): { trueTaus?: [number, number]; trueKernel?: Float32Array } {
  const m = /^demo: ([\w-]+)/.exec(d.label);
  if (!d.truth || !m) return {};
  try {
    const k = (JSON.parse(calab.preset_json(m[1])) as { kernel?: { tau_rise?: number; tau_decay?: number } }).kernel;
    if (!k?.tau_rise || !k?.tau_decay) return {};
    return { trueTaus: [k.tau_rise, k.tau_decay], trueKernel: calab.build_kernel(k.tau_rise, k.tau_decay, d.fs) };
  } catch {
    return {};
  }
}

function refreshExports(): void {
  const done = screen?.controller.state === 'complete' && !!screen.controller.result;
  exportZip.disabled = !done;
  exportPython.disabled = !done || !current?.bridge || current.bridge.ended || sent;
}

function setStatus(text: string, state: BridgeState | 'sent'): void {
  bridgeStatus.textContent = text;
  bridgeStatus.className = `bridge-status ${state === 'connected' || state === 'sent' ? 'ok' : 'err'}`;
  bridgeStatus.dataset.state = state;
}

function startScreen(calab: Calab, s: Started): void {
  screen?.dispose();
  current = s;
  sent = false;
  banner.hidden = true;
  datasetLabel.textContent = s.dataset.label;
  loadNew.hidden = !!s.bridge;
  let lastPost = 0;
  let lastPhase: Phase | null = null;
  screen = new DeconScreen({
    root: app,
    dataset: s.dataset,
    theme,
    createWorker,
    workers: s.workers ?? workersFromLocation(location),
    initial: s.initial,
    ...demoTruth(calab, s.dataset),
    onState: () => refreshExports(),
    onProgress: (phase, fraction, message) => {
      if (!s.bridge) return;
      // At most a few posts a second, but every phase change gets through.
      const now = performance.now();
      if (phase === lastPhase && now - lastPost < 300 && fraction < 1) return;
      lastPost = now;
      lastPhase = phase;
      s.bridge.postJson('progress', { phase: PHASE_LABEL[phase], fraction, message }).catch(() => {});
    },
    onDone: (_r, _a, stopped) => {
      refreshExports();
      if (s.bridge && s.autorun) void sendToPython(stopped);
    },
  });
  refreshExports();
  if (s.autorun) screen.start();
}

function provenance() {
  const d = current!.dataset;
  return {
    appVersion: __APP_VERSION__,
    engine: screen!.controller.engine,
    workers: screen!.controller.workers,
    sourceFilename: d.sourceFilename,
    cellIds: d.cellIds,
  };
}

async function sendToPython(stopped = false): Promise<void> {
  const c = screen?.controller;
  const bridge = current?.bridge;
  if (!c?.result || !c.activity || !bridge || sent) return;
  sent = true;
  refreshExports();
  try {
    const { num_cells: n, num_timepoints: T } = c.result;
    await bridge.postBytes('activity', encodeNpy(c.activity, [n, T]));
    await bridge.postJson('results', resultsDocument(c.result, provenance(), 'POST /api/v1/activity'));
    setStatus(
      `${stopped || c.result.partial ? 'Partial results' : 'Results'} sent to Python. You can close this tab.`,
      'sent',
    );
    notify('Sent to Python.');
    bridge.stopHeartbeat();
  } catch (e) {
    sent = false;
    refreshExports();
    // Say plainly that Python did not get them; the results stay here and Export ZIP still saves them.
    const { ended, text } = notReceived(e, 'Results');
    setStatus(`${text} Use Export ZIP to keep them.`, ended ? 'ended' : 'unreachable');
    showBanner(`${text} They are not lost: Export ZIP downloads them.`);
  }
}

function downloadZip(): void {
  const c = screen?.controller;
  if (!c?.result || !c.activity || !current) return;
  const fmtOut = current.dataset.sourceFilename?.toLowerCase().endsWith('.mat') ? 'mat' : 'npy';
  let bytes: Uint8Array;
  try {
    bytes = buildZip({
      result: c.result,
      activity: c.activity,
      format: fmtOut,
      provenance: provenance(),
      history: c.reports,
    });
  } catch (e) {
    showBanner(`The export could not be built: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  downloadBlob(new Blob([bytes as BlobPart], { type: 'application/zip' }), 'cadecon_results.zip');
  notify(
    `Saved cadecon_results.zip: activity.${fmtOut} (${c.result.num_cells} cells × ${c.result.num_timepoints} frames) and results.json${c.result.partial ? ' (partial run)' : ''}.`,
  );
}

async function boot(): Promise<void> {
  const calab = await loadCalabOrExplain(showBanner);
  if (!calab) return;
  exportZip.addEventListener('click', downloadZip);
  exportPython.addEventListener('click', () => void sendToPython(screen?.controller.stopped ?? false));
  const showImport = (): void =>
    renderImport(app, calab, (d) => startScreen(calab, { dataset: d, bridge: null }), {
      confirmLabel: 'Deconvolve these traces',
    });
  loadNew.addEventListener('click', () => {
    screen?.dispose();
    screen = null;
    current = null;
    refreshExports();
    loadNew.hidden = true;
    datasetLabel.textContent = '';
    showImport();
  });

  const info = bridgeFromLocation(location);
  if (!info) {
    showImport();
    return;
  }
  const bridge = new BridgeClient(info);
  bridgeStatus.hidden = false;
  exportPython.hidden = false;
  app.textContent = 'Loading traces from Python…';
  try {
    const { session, dataset } = await bridge.loadDataset();
    const { changes, autorun, workers, ignored } = fromSessionConfig(session.config);
    if (ignored.length) showBanner(`Ignored settings from Python that CaDecon does not know: ${ignored.join(', ')}`);
    bridge.startHeartbeat((state) => {
      if (sent) return;
      setStatus(BRIDGE_STATUS[state], state);
      if (state === 'ended') refreshExports();
    });
    startScreen(calab, { dataset, bridge, initial: changes, autorun, workers });
  } catch (e) {
    app.textContent = '';
    showBanner(
      `Could not load the traces from Python (${e instanceof Error ? e.message : String(e)}). Is calab.decon() still running?`,
    );
    showImport();
  }
}

void boot();
