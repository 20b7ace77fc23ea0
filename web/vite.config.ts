// Build, dev server and unit tests for the browser apps. One app per build: CaTune by default, CaDecon with
// `--mode cadecon`. The app root is web/<app>; the build goes to python/calab/_webapp/<app> with a relative
// base and its own assets/, so the Python bridge (which serves _webapp/<app>/ as its root) or any static
// server can serve each app from any path, offline. pkg/ (the wasm solver) lives outside the root, so the
// dev server may read it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const web = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('..', import.meta.url));
const version = (JSON.parse(readFileSync(`${repo}package.json`, 'utf8')) as { version: string }).version;

const APPS = ['catune', 'cadecon'] as const;

/** The file:// notice (web/shared/fileguard.js), inlined as a classic script so it runs where modules cannot. */
const fileGuard = {
  name: 'calab-file-guard',
  transformIndexHtml(html: string) {
    const js = readFileSync(`${web}shared/fileguard.js`, 'utf8');
    return html.replace('</head>', `    <script>\n${js}    </script>\n  </head>`);
  },
};

export default defineConfig(({ mode }) => {
  const app = APPS.find((a) => a === mode) ?? 'catune';
  return {
    root: `${web}${app}`,
    base: './',
    plugins: [fileGuard],
    // Caches under the top-level node_modules (git-ignored), not web/node_modules.
    cacheDir: `${repo}node_modules/.vite`,
    define: { __APP_VERSION__: JSON.stringify(version) },
    build: {
      outDir: `${repo}python/calab/_webapp/${app}`,
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
  };
});
