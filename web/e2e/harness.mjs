// Shared harness of the browser tests: serves a built app (python/calab/_webapp/<app>) from a sub-path on a
// local static server (proving the build's relative base) and opens pages in Debian's headless Chromium
// through playwright-core (no browser download). Every page records page errors and console errors, and
// `check()` fails the test if there were any. CHROMIUM overrides /usr/bin/chromium. The Python round trips
// run the project's Python (CALAB_PYTHON overrides .venv/bin/python) through `runPython`.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { testHostileImports } from './hostile.mjs';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** An HTTP server on 127.0.0.1 with an ephemeral port. */
export function listen(handler) {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Serves the built `app` and launches Chromium; returns { base, openPage, close }. */
export async function serveApp(app) {
  const appDir = path.join(repo, 'python', 'calab', '_webapp', app);
  const prefix = `/some/sub/path/${app}/`;
  assert.ok(existsSync(path.join(appDir, 'index.html')), `build the app first (npm run build): ${appDir} is missing`);
  const staticServer = await listen((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (!url.pathname.startsWith(prefix)) return res.writeHead(404).end();
    const rel = decodeURIComponent(url.pathname.slice(prefix.length)) || 'index.html';
    const file = path.join(appDir, rel);
    if (!file.startsWith(appDir) || !existsSync(file)) return res.writeHead(404).end();
    res
      .writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' })
      .end(readFileSync(file));
  });
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  const openPage = async (url) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true });
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
    });
    await page.goto(url);
    return { page, context, check: () => assert.deepEqual(problems, []) };
  };
  const close = async () => {
    await browser.close();
    staticServer.close();
  };
  return { base: `http://127.0.0.1:${staticServer.address().port}${prefix}`, openPage, close };
}

/** Serves the built `app` to the tests of the calling file (started in before(), closed in after()). */
export function useApp(app) {
  let served = null;
  before(async () => {
    served = await serveApp(app);
  });
  after(async () => {
    await served?.close();
  });
  return {
    get base() {
      return served.base;
    },
    openPage: (url) => served.openPage(url),
  };
}

/**
 * A stand-in for the Python bridge on 127.0.0.1 (schemas/bridge-protocol.json): answers CORS preflights,
 * refuses a wrong token with 401 (counted in `got.badTokens`), serves `session` and the f4 `traces`, counts
 * heartbeats in `got.heartbeats`, hands the body of every POST to `posts[path]` and answers 404 otherwise.
 * Returns the server and its URL.
 */
export async function fakeBridge({ token, session, traces, got, posts }) {
  const cors = {
    'access-control-allow-origin': '*',
    'access-control-allow-headers': 'X-CaLab-Token, Content-Type',
    'access-control-allow-methods': 'GET, POST, OPTIONS',
  };
  const server = await listen((req, res) => {
    if (req.method === 'OPTIONS') return res.writeHead(204, cors).end();
    if (req.headers['x-calab-token'] !== token) {
      got.badTokens++;
      return res.writeHead(401, cors).end();
    }
    const url = new URL(req.url, 'http://x');
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const json = (o) => res.writeHead(200, { ...cors, 'content-type': 'application/json' }).end(JSON.stringify(o));
      const path = url.pathname.replace(/^\/api\/v1\//, '');
      if (path === 'session') return json(session);
      if (path === 'traces') {
        assert.equal(url.searchParams.get('dtype'), 'f4');
        return res.writeHead(200, { ...cors, 'content-type': 'application/octet-stream' }).end(traces);
      }
      if (path === 'heartbeat') {
        got.heartbeats++;
        return json({ ok: true });
      }
      if (req.method === 'POST' && posts[path]) {
        posts[path](body);
        return json({ ok: true });
      }
      res.writeHead(404, cors).end();
    });
  });
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

/** The hostile-files test (hostile.mjs) against the app `useApp` serves; both apps' files register it. */
export function hostileFilesTest(harness) {
  test('hostile files: a zip bomb, a 2 GiB .npy, a bad CRC, negative .mat dimensions, 0 cells', async () => {
    // Each is refused with its ParseError code before anything large is read or inflated; the page keeps
    // answering and then imports a good file.
    await testHostileImports(harness.openPage, harness.base);
  });
}

/** The Python the round-trip tests run (the project's venv unless CALAB_PYTHON says otherwise). */
export const python = process.env.CALAB_PYTHON ?? path.join(repo, '.venv', 'bin', 'python');

/** Whether `python` exists and runs `code` without error (tests that need it skip otherwise). */
export function pythonCan(code) {
  return existsSync(python) && spawnSync(python, ['-c', code], { stdio: 'ignore' }).status === 0;
}

/**
 * Runs the Python `script` with `args`; it reports by printing lines `PREFIX payload`. `line(prefix)`
 * resolves with the payload of the first complete line with that prefix, or rejects once the process has
 * exited without one. `stop()` kills the process if it still runs (call it in a `finally`).
 */
export function runPython(script, args) {
  const proc = spawn(python, ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const waiters = [];
  proc.stdout.on('data', (d) => {
    out += d;
    for (const w of waiters) w();
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const line = (prefix) => {
    const p = new Promise((resolve, reject) => {
      const look = () => {
        // Only complete lines: a chunk can end in the middle of one.
        const m = out
          .split('\n')
          .slice(0, -1)
          .find((l) => l.startsWith(prefix));
        if (m) resolve(m.slice(prefix.length));
      };
      waiters.push(look);
      exited.then(() => reject(new Error(`python exited early:\n${out}`)));
      look();
    });
    // Still awaited by the caller; this only keeps a kill after a failure from being unhandled.
    p.catch(() => {});
    return p;
  };
  const stop = () => {
    if (proc.exitCode === null) proc.kill();
  };
  return { line, stop };
}
