// Build, dev server and unit tests for the browser apps. The app root is web/catune; the build goes to
// python/calab/_webapp/catune with a relative base so the Python bridge (or any static server, offline)
// can serve it from any path. pkg/ (the wasm solver) lives outside the root, so the dev server may read it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const web = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('..', import.meta.url));
const version = (JSON.parse(readFileSync(`${repo}package.json`, 'utf8')) as { version: string }).version;

export default defineConfig({
  root: `${web}catune`,
  base: './',
  // Caches under the top-level node_modules (git-ignored), not web/node_modules.
  cacheDir: `${repo}node_modules/.vite`,
  define: { __APP_VERSION__: JSON.stringify(version) },
  build: {
    outDir: `${repo}python/calab/_webapp/catune`,
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1000,
  },
  worker: { format: 'es' },
  server: { fs: { allow: [repo] } },
  test: {
    root: web,
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
