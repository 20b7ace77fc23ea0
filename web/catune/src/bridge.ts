// Bridge mode (schemas/bridge-protocol.json): the app is opened with `#bridge=<base url>&token=<secret>`.
// It loads the session and traces from the local calab server, sends a heartbeat every 5 s while open and
// POSTs the export back (after the activity of every cell when calab.tune asked for it with
// return_activity). The token travels only in the X-CaLab-Token header.

import { parseNpy } from '../../shared/npy';
import { toMatrix, validateMatrix } from '../../shared/traces';
import type { Dataset } from '../../shared/dataset';

export interface BridgeInfo {
  base: string;
  token: string;
}

export interface BridgeSession {
  fs: number;
  num_cells: number;
  num_timepoints: number;
  cell_ids?: (number | string)[];
  source?: string | null;
  /** From calab.tune: `return_activity: true` asks for every cell's activity with the export. */
  config?: Record<string, unknown>;
}

/** Reads bridge settings from the fragment (preferred: never sent to servers) or the query string. */
export function bridgeFromLocation(loc: { hash: string; search: string }): BridgeInfo | null {
  for (const part of [loc.hash.replace(/^#/, ''), loc.search.replace(/^\?/, '')]) {
    const q = new URLSearchParams(part);
    const base = q.get('bridge');
    if (base) return { base: base.replace(/\/+$/, ''), token: q.get('token') ?? '' };
  }
  return null;
}

export class Bridge {
  private timer: ReturnType<typeof setInterval> | null = null;
  constructor(readonly info: BridgeInfo, private readonly onStatus: (text: string, ok: boolean) => void) {}

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('X-CaLab-Token', this.info.token);
    const res = await fetch(`${this.info.base}/api/v1/${path}`, { ...init, headers, cache: 'no-store' });
    if (!res.ok) {
      let detail = '';
      try {
        const body = (await res.json()) as { error?: { code?: string; message?: string } };
        detail = body.error ? ` ${body.error.code}: ${body.error.message}` : '';
      } catch {
        // not JSON; the status says enough
      }
      throw new Error(`${path} failed with HTTP ${res.status}.${detail}`);
    }
    return res;
  }

  /** The session's config once `load` has run. */
  config: Record<string, unknown> = {};

  /** Whether Python asked for the activity of every cell along with the parameters. */
  get wantsActivity(): boolean {
    return this.config.return_activity === true;
  }

  async load(): Promise<Dataset> {
    const session = (await (await this.request('session')).json()) as BridgeSession;
    this.config = session.config ?? {};
    const bytes = new Uint8Array(await (await this.request('traces?dtype=f4')).arrayBuffer());
    const arr = parseNpy(bytes, 'traces from Python');
    const matrix = toMatrix(arr);
    validateMatrix(matrix);
    return {
      matrix, fs: session.fs, sourceFilename: session.source ?? null, cellIds: session.cell_ids,
      label: `from Python${session.source ? `: ${session.source}` : ''} (${matrix.numCells} cells × ${matrix.numTimepoints} frames @ ${session.fs} Hz)`,
    };
  }

  startHeartbeat(): void {
    const beat = async (): Promise<void> => {
      try {
        await this.request('heartbeat', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ timestamp: Date.now() / 1000 }) });
        this.onStatus('Connected to Python', true);
      } catch {
        this.onStatus('Python session not reachable', false);
      }
    };
    void beat();
    this.timer = setInterval(() => void beat(), 5000);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** POST /api/v1/activity: the activity matrix as .npy bytes (rows are the cells in the session's order). */
  async sendActivity(npy: Uint8Array): Promise<void> {
    await this.request('activity', { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: npy as BodyInit });
  }

  async sendExport(doc: unknown): Promise<void> {
    await this.request('export', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(doc) });
  }
}
