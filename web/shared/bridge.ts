// Client side of the local Python bridge (schemas/bridge-protocol.json), shared by the apps: reads
// `#bridge=<base url>&token=<secret>`, sends the secret only in the X-CaLab-Token header, turns refusals into
// errors that carry the server's code, and keeps a heartbeat going while the app is open. It also knows when
// the Python session is over (410 SESSION_ENDED, or the secret no longer accepted), so the apps never claim
// "Connected" or "sent" for something Python will not receive. Both apps use this one client. DOM-free.

import type { Dataset } from './dataset';
import { parseNpy } from './npy';
import { validateMatrix } from './traces';

export interface BridgeInfo {
  base: string;
  token: string;
}

/** GET /api/v1/session (the `session` entry of the protocol's $defs). */
export interface BridgeSessionInfo {
  protocol_version: number;
  app: 'catune' | 'cadecon';
  fs: number;
  num_cells: number;
  num_timepoints: number;
  cell_ids?: (number | string)[];
  source?: string | null;
  config?: Record<string, unknown>;
}

export interface BridgeProgress {
  phase: string;
  fraction: number;
  message?: string;
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

export class BridgeRequestError extends Error {
  /** `status` 0 and code `UNREACHABLE` when no answer came (Python gone, or the network failed). */
  constructor(
    readonly path: string,
    readonly status: number,
    readonly code: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'BridgeRequestError';
  }
}

/** What the page can say about the Python side. */
export type BridgeState = 'connected' | 'unreachable' | 'ended';

/** The status line each state shows (both apps say the same thing). */
export const BRIDGE_STATUS: Record<BridgeState, string> = {
  connected: 'Connected to Python',
  unreachable: 'Python is not answering (the session may be over): nothing sent now is received.',
  ended: 'The Python session has ended: nothing sent now reaches Python.',
};

/**
 * Why a send to Python failed, in words for the page: it always says the data was NOT received, and
 * whether the session is over for good (`ended`) or might answer again.
 */
export function notReceived(e: unknown, what: string): { ended: boolean; text: string } {
  const err = e instanceof BridgeRequestError ? e : null;
  const ended = !!err && (err.code === 'SESSION_ENDED' || err.status === 401 || err.status === 410);
  const why = ended
    ? 'the Python session has ended'
    : err?.code === 'UNREACHABLE'
      ? 'Python is not answering (the session may be over)'
      : e instanceof Error
        ? e.message
        : String(e);
  return { ended, text: `${what} NOT received by Python: ${why}.` };
}

export class BridgeClient {
  private timer: ReturnType<typeof setInterval> | null = null;
  /** True once the server said the session is over; then nothing more is sent. */
  ended = false;

  constructor(
    readonly info: BridgeInfo,
    private readonly fetchImpl: typeof fetch = (...a) => fetch(...a),
  ) {}

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    if (this.ended)
      throw new BridgeRequestError(path, 410, 'SESSION_ENDED', `${path} not sent: the Python session has ended.`);
    const headers = new Headers(init.headers);
    headers.set('X-CaLab-Token', this.info.token);
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.info.base}/api/v1/${path}`, { ...init, headers, cache: 'no-store' });
    } catch (e) {
      throw new BridgeRequestError(
        path,
        0,
        'UNREACHABLE',
        `${path} got no answer from Python (${e instanceof Error ? e.message : String(e)}).`,
      );
    }
    if (!res.ok) {
      let code: string | null = null;
      let detail = '';
      try {
        const body = (await res.json()) as { error?: { code?: string; message?: string } };
        code = body.error?.code ?? null;
        detail = body.error ? ` ${body.error.code}: ${body.error.message}` : '';
      } catch {
        // not JSON; the status says enough
      }
      // 410: this session is over; 401: the secret is no longer accepted (a new session took the port).
      if (res.status === 410 || res.status === 401) {
        this.ended = true;
        this.stopHeartbeat();
      }
      throw new BridgeRequestError(path, res.status, code, `${path} failed with HTTP ${res.status}.${detail}`);
    }
    return res;
  }

  async session(): Promise<BridgeSessionInfo> {
    return (await (await this.request('session')).json()) as BridgeSessionInfo;
  }

  /** The traces as float32, row-major cells x time. */
  async traces(): Promise<{ data: Float32Array; numCells: number; numTimepoints: number }> {
    const bytes = new Uint8Array(await (await this.request('traces?dtype=f4')).arrayBuffer());
    const arr = parseNpy(bytes, 'traces from Python');
    const [numCells, numTimepoints] = arr.shape.length === 1 ? [1, arr.shape[0]] : [arr.shape[0], arr.shape[1]];
    return { data: Float32Array.from(arr.data), numCells, numTimepoints };
  }

  /** The session and its traces as the Dataset the apps work on (checked like an imported file). */
  async loadDataset(): Promise<{ session: BridgeSessionInfo; dataset: Dataset }> {
    const session = await this.session();
    const t = await this.traces();
    const matrix = { numCells: t.numCells, numTimepoints: t.numTimepoints, data: t.data };
    validateMatrix(matrix);
    const from = session.source ? `: ${session.source}` : '';
    const dataset: Dataset = {
      matrix,
      fs: session.fs,
      sourceFilename: session.source ?? null,
      cellIds: session.cell_ids,
      label: `from Python${from} (${matrix.numCells} cells × ${matrix.numTimepoints} frames @ ${session.fs} Hz)`,
    };
    return { session, dataset };
  }

  postJson(path: string, body: unknown): Promise<Response> {
    return this.request(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  postBytes(path: string, bytes: Uint8Array): Promise<Response> {
    return this.request(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bytes as BodyInit,
    });
  }

  /** Heartbeat now and every `everyMs`; `onStatus` hears what each beat found out (stops once ended). */
  startHeartbeat(onStatus: (state: BridgeState) => void, everyMs = 5000): void {
    this.stopHeartbeat();
    const beat = async (): Promise<void> => {
      try {
        await this.postJson('heartbeat', { timestamp: Date.now() / 1000 });
        onStatus('connected');
      } catch {
        onStatus(this.ended ? 'ended' : 'unreachable');
      }
    };
    void beat();
    this.timer = setInterval(() => void beat(), everyMs);
  }

  stopHeartbeat(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
