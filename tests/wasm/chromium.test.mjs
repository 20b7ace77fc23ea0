// The package also instantiates in the browser engine the app targets, through the same
// default `init()` path a page uses (fetch + instantiateStreaming). Chromium is Debian's
// (/usr/bin/chromium, or $CHROMIUM); the test is skipped where it is not installed.
// Full UI tests belong to Playwright; this only proves the .wasm validates and runs there.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { pkgDir } from './load.mjs';

const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
const PAGE = `<!doctype html><meta charset="utf-8"><body>pending</body><script type="module">
  try {
    const m = await import('/pkg/calab_solver.js');
    await m.default();
    document.body.textContent = 'version=' + m.solver_version();
  } catch (e) {
    document.body.textContent = 'error=' + e;
  }
</script>`;

test('module instantiates in headless Chromium', { skip: !existsSync(chromium) && `${chromium} not installed` }, async () => {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': TYPES['.html'] }).end(PAGE);
      return;
    }
    const file = path.join(pkgDir, path.basename(url.pathname));
    if (!url.pathname.startsWith('/pkg/') || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { stdout } = await promisify(execFile)(chromium, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
      '--virtual-time-budget=10000', '--dump-dom', `http://127.0.0.1:${server.address().port}/`,
    ], { timeout: 60_000 });
    const body = stdout.match(/<body>([\s\S]*?)<\/body>/)?.[1] ?? stdout;
    const version = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
    assert.equal(body.trim(), `version=${version}`);
  } finally {
    server.close();
  }
});
