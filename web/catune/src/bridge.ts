// Bridge mode (schemas/bridge-protocol.json): the app is opened with `#bridge=<base url>&token=<secret>`.
// CaTune's side of the shared client (../../shared/bridge): it loads the session and traces as a Dataset,
// reports the heartbeat's findings in words, and POSTs the export back (after the activity of every cell
// when calab.tune asked for it with return_activity). The token travels only in the X-CaLab-Token header.

import { BRIDGE_STATUS, BridgeClient, type BridgeInfo, type BridgeState } from '../../shared/bridge';
import { validateMatrix } from '../../shared/traces';
import type { Dataset } from '../../shared/dataset';

export { bridgeFromLocation, type BridgeInfo } from '../../shared/bridge';

export class Bridge extends BridgeClient {
  constructor(info: BridgeInfo, private readonly onStatus: (text: string, state: BridgeState) => void) {
    super(info);
  }

  /** The session's config once `load` has run. */
  config: Record<string, unknown> = {};

  /** Whether Python asked for the activity of every cell along with the parameters. */
  get wantsActivity(): boolean {
    return this.config.return_activity === true;
  }

  async load(): Promise<Dataset> {
    const session = await this.session();
    this.config = session.config ?? {};
    const t = await this.traces();
    const matrix = { numCells: t.numCells, numTimepoints: t.numTimepoints, data: t.data };
    validateMatrix(matrix);
    return {
      matrix, fs: session.fs, sourceFilename: session.source ?? null, cellIds: session.cell_ids,
      label: `from Python${session.source ? `: ${session.source}` : ''} (${matrix.numCells} cells × ${matrix.numTimepoints} frames @ ${session.fs} Hz)`,
    };
  }

  startHeartbeat(): void {
    super.startHeartbeat((state) => this.onStatus(BRIDGE_STATUS[state], state));
  }

  stop(): void {
    this.stopHeartbeat();
  }

  /** POST /api/v1/activity: the activity matrix as .npy bytes (rows are the cells in the session's order). */
  async sendActivity(npy: Uint8Array): Promise<void> {
    await this.postBytes('activity', npy);
  }

  async sendExport(doc: unknown): Promise<void> {
    await this.postJson('export', doc);
  }
}
