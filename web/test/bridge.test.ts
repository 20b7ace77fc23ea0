// The bridge client both apps use (shared/bridge.ts): token only in the header, the server's error code
// surfaced, traces parsed as float32 cells x time and checked as a Dataset, activity posted as raw bytes.
import { describe, expect, it } from 'vitest';
import {
  BRIDGE_STATUS,
  BridgeClient,
  BridgeRequestError,
  type BridgeState,
  bridgeFromLocation,
  notReceived,
} from '../shared/bridge';
import { encodeNpy } from '../shared/npywrite';

type Call = { url: string; init: RequestInit };
function fakeFetch(reply: (url: string, init: RequestInit) => Response) {
  const calls: Call[] = [];
  const f = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return reply(url, init);
  }) as unknown as typeof fetch;
  return { f, calls };
}

describe('bridge client', () => {
  it('reads the fragment and strips trailing slashes', () => {
    expect(bridgeFromLocation({ hash: '#bridge=http%3A%2F%2F127.0.0.1%3A5000%2F&token=abc', search: '' })).toEqual({
      base: 'http://127.0.0.1:5000',
      token: 'abc',
    });
    expect(bridgeFromLocation({ hash: '', search: '' })).toBeNull();
  });

  it('sends the token in X-CaLab-Token only and parses f4 traces', async () => {
    const npy = encodeNpy(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const { f, calls } = fakeFetch(() => new Response(npy as BodyInit, { status: 200 }));
    const c = new BridgeClient({ base: 'http://h', token: 's3cret' }, f);
    const t = await c.traces();
    expect(t.numCells).toBe(2);
    expect(t.numTimepoints).toBe(3);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(calls[0].url).toBe('http://h/api/v1/traces?dtype=f4');
    expect(new Headers(calls[0].init.headers).get('X-CaLab-Token')).toBe('s3cret');
    expect(calls[0].url).not.toContain('s3cret');
  });

  it('loads the session and its traces as a Dataset, repairing missing frames like an import', async () => {
    const session = {
      protocol_version: 1,
      app: 'catune',
      fs: 20,
      num_cells: 2,
      num_timepoints: 3,
      cell_ids: [4, 9],
      source: 'rec.h5',
      config: { return_activity: true },
    };
    const npy = encodeNpy(Float32Array.from([1, Number.NaN, 3, 4, 5, 7]), [2, 3]);
    const { f, calls } = fakeFetch((url) =>
      url.endsWith('/session') ? Response.json(session) : new Response(npy as BodyInit),
    );
    const { session: got, dataset } = await new BridgeClient({ base: 'http://h', token: 't' }, f).loadDataset();
    expect(calls.map((c) => c.url)).toEqual(['http://h/api/v1/session', 'http://h/api/v1/traces?dtype=f4']);
    expect(got.config).toEqual({ return_activity: true });
    expect(dataset.fs).toBe(20);
    expect(dataset.cellIds).toEqual([4, 9]);
    expect(dataset.sourceFilename).toBe('rec.h5');
    expect([dataset.matrix.numCells, dataset.matrix.numTimepoints]).toEqual([2, 3]);
    expect(Array.from(dataset.matrix.data)).toEqual([1, 2, 3, 4, 5, 7]);
    expect(dataset.label).toBe('from Python: rec.h5 (2 cells × 3 frames @ 20 Hz)');
  });

  it("refuses an empty recording from Python with the import screen's code", async () => {
    const session = { protocol_version: 1, app: 'cadecon', fs: 20, num_cells: 0, num_timepoints: 0 };
    const npy = encodeNpy(new Float32Array(0), [0, 0]);
    const { f } = fakeFetch((url) =>
      url.endsWith('/session') ? Response.json(session) : new Response(npy as BodyInit),
    );
    const err = await new BridgeClient({ base: 'http://h', token: 't' }, f).loadDataset().catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('EMPTY');
  });

  it('posts bytes and JSON with the right content types', async () => {
    const { f, calls } = fakeFetch(() => new Response('{"ok":true}', { status: 200 }));
    const c = new BridgeClient({ base: 'http://h', token: 't' }, f);
    await c.postBytes('activity', new Uint8Array([1, 2]));
    await c.postJson('progress', { phase: 'x', fraction: 0.5 });
    expect(new Headers(calls[0].init.headers).get('Content-Type')).toBe('application/octet-stream');
    expect(calls[1].init.body).toBe('{"phase":"x","fraction":0.5}');
    expect(calls.every((c) => c.init.method === 'POST')).toBe(true);
  });

  it('turns refusals into errors carrying the server code', async () => {
    const { f } = fakeFetch(
      () =>
        new Response(JSON.stringify({ error: { code: 'INVALID_MESSAGE', message: 'bad results' } }), { status: 400 }),
    );
    const c = new BridgeClient({ base: 'http://h', token: 't' }, f);
    const err = await c.postJson('results', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BridgeRequestError);
    expect((err as BridgeRequestError).code).toBe('INVALID_MESSAGE');
    expect((err as BridgeRequestError).status).toBe(400);
    expect(String((err as Error).message)).toMatch(/results failed with HTTP 400\. INVALID_MESSAGE: bad results/);
  });
});

// After the Python session is over the page must never say "Connected" or "sent": the client learns it
// from a 410 SESSION_ENDED (or a secret no longer accepted), stops its heartbeat and sends nothing more.
describe('bridge client when the session is over', () => {
  const ended = () =>
    new Response(
      JSON.stringify({ error: { code: 'SESSION_ENDED', message: 'this catune session has ended (timeout)' } }),
      { status: 410 },
    );

  it('a 410 marks the session ended, stops the heartbeat and refuses later sends locally', async () => {
    let answer: () => Response = () => new Response('{"ok":true}', { status: 200 });
    const { f, calls } = fakeFetch(() => answer());
    const c = new BridgeClient({ base: 'http://h', token: 't' }, f);
    const states: BridgeState[] = [];
    c.startHeartbeat((s) => states.push(s), 5);
    await new Promise((r) => setTimeout(r, 30));
    expect(states[0]).toBe('connected');
    answer = ended;
    await new Promise((r) => setTimeout(r, 30));
    expect(states.at(-1)).toBe('ended');
    expect(c.ended).toBe(true);
    const sentBefore = calls.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(calls.length).toBe(sentBefore); // no heartbeat after the end
    const err = await c.postJson('export', {}).catch((e: unknown) => e);
    expect(calls.length).toBe(sentBefore); // nor an export
    expect(notReceived(err, 'Parameters')).toEqual({
      ended: true,
      text: 'Parameters NOT received by Python: the Python session has ended.',
    });
    c.stopHeartbeat();
  });

  it('no answer at all is "unreachable", not ended, and still says NOT received', async () => {
    const f = (async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof fetch;
    const c = new BridgeClient({ base: 'http://h', token: 't' }, f);
    const err = await c.postJson('export', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BridgeRequestError);
    expect((err as BridgeRequestError).code).toBe('UNREACHABLE');
    expect(c.ended).toBe(false);
    const said = notReceived(err, 'Results');
    expect(said.ended).toBe(false);
    expect(said.text).toMatch(/^Results NOT received by Python: Python is not answering/);
    const states: BridgeState[] = [];
    c.startHeartbeat((s) => states.push(s), 1000);
    await new Promise((r) => setTimeout(r, 20));
    c.stopHeartbeat();
    expect(states).toEqual(['unreachable']);
    expect(BRIDGE_STATUS.unreachable).not.toMatch(/Connected/);
  });

  it('a 401 (the port now belongs to another session) counts as ended', async () => {
    const { f } = fakeFetch(() => new Response('{"error":{"code":"UNAUTHORIZED","message":"x"}}', { status: 401 }));
    const c = new BridgeClient({ base: 'http://h', token: 't' }, f);
    const err = await c.postJson('export', {}).catch((e: unknown) => e);
    expect(c.ended).toBe(true);
    expect(notReceived(err, 'Parameters').ended).toBe(true);
  });
});

// The protocol is defined once, in schemas/bridge-protocol.json: every route the client uses must be
// listed there with the method it is called with, and the token header must be the documented one.
describe('bridge client against schemas/bridge-protocol.json', () => {
  it('uses only documented routes, methods and the documented token header', async () => {
    const { readFileSync } = await import('node:fs');
    const proto = JSON.parse(readFileSync(new URL('../../schemas/bridge-protocol.json', import.meta.url), 'utf8'));
    const documented = new Set(
      (proto.endpoints as { method: string; path: string }[]).map((e) => `${e.method} ${e.path}`),
    );
    expect(proto.security.token_header).toBe('X-CaLab-Token');
    // the refusal the client acts on (the session is over) is one the server documents
    expect(proto.$defs.error.properties.error.properties.code.enum).toContain('SESSION_ENDED');
    const { f, calls } = fakeFetch((url) =>
      url.includes('/traces')
        ? new Response(encodeNpy(Float32Array.from([1, 2]), [1, 2]) as BodyInit, { status: 200 })
        : new Response('{"ok":true}', { status: 200 }),
    );
    const c = new BridgeClient({ base: 'http://h', token: 't' }, f);
    await c.session();
    await c.traces();
    for (const route of ['heartbeat', 'progress', 'results', 'export', 'cancel']) await c.postJson(route, {});
    await c.postBytes('activity', new Uint8Array([1]));
    for (const call of calls) {
      const path = new URL(call.url).pathname;
      expect(documented.has(`${call.init.method ?? 'GET'} ${path}`), `${call.init.method ?? 'GET'} ${path}`).toBe(true);
      expect(new Headers(call.init.headers).get(proto.security.token_header)).toBe('t');
    }
  });
});
