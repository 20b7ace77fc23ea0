// The folder rules the TypeScript configs rely on, checked on the import statements: the pure shared modules
// (web/shared/*.ts) and the workers import neither the DOM modules (web/shared/ui/), nor uPlot, nor an app's
// folder; the apps do not import each other. tsconfig.worker.json compiles the same files without the DOM
// lib, which catches DOM globals; this catches an import of a DOM module that the type check would allow.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';

const web = new URL('../', import.meta.url);

function sources(dir: string): string[] {
  return readdirSync(new URL(dir, web))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `${dir}${f}`);
}

/** Every module specifier a file imports or re-exports (static and dynamic). */
function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out;
}

/** The specifier resolved against the file's folder, relative to web/ (bare package names as they are). */
function resolve(file: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  return new URL(spec, new URL(file, web)).href.slice(web.href.length);
}

function violations(files: string[], forbidden: (target: string) => boolean): string[] {
  const bad: string[] = [];
  for (const f of files) {
    for (const spec of importsOf(readFileSync(new URL(f, web), 'utf8'))) {
      const target = resolve(f, spec);
      if (forbidden(target)) bad.push(`${f} imports ${spec}`);
    }
  }
  return bad;
}

describe('layering', () => {
  test('the import scan sees every form of import', () => {
    const text = [
      "import { a } from './x';",
      "import type { B } from '../y';",
      "export { c } from './z';",
      "import './side';",
      "const m = await import('./lazy');",
      'import {\n  d,\n  e,\n} from "./multi";',
    ].join('\n');
    expect(importsOf(text)).toEqual(['./x', '../y', './z', './multi', './side', './lazy']);
  });

  test('pure shared modules and workers import no DOM module, uPlot or app folder', () => {
    const pure = [...sources('shared/'), ...sources('workers/')];
    expect(pure.length).toBeGreaterThan(20);
    const dom = (t: string) =>
      t.startsWith('shared/ui/') || t === 'uplot' || t.startsWith('catune/') || t.startsWith('cadecon/');
    expect(violations(pure, dom)).toEqual([]);
  });

  test('the check would catch an app or DOM import from shared/', () => {
    expect(resolve('shared/pool.ts', './ui/charts')).toBe('shared/ui/charts');
    expect(resolve('workers/indeca.worker.ts', '../cadecon/src/protocol')).toBe('cadecon/src/protocol');
  });

  test('the apps do not import each other', () => {
    expect(violations(sources('catune/src/'), (t) => t.startsWith('cadecon/'))).toEqual([]);
    expect(violations(sources('cadecon/src/'), (t) => t.startsWith('catune/'))).toEqual([]);
  });
});
