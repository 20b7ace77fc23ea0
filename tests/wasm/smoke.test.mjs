// The package loads in Node, runs its start hook, and reports the crate version it was built
// from; package.json describes the files that are actually there.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadSolver, pkgDir, repoRoot } from './load.mjs';

const crateVersion = readFileSync(path.join(repoRoot, 'crates/solver/Cargo.toml'), 'utf8')
  .match(/^version\s*=\s*"([^"]+)"/m)[1];

test('module instantiates and solver_version() is the crate version', async () => {
  const solver = await loadSolver();
  assert.equal(typeof solver.solver_version, 'function');
  assert.equal(solver.solver_version(), crateVersion);
});

test('package.json matches the crate and lists files that exist', () => {
  const manifest = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  assert.equal(manifest.name, 'calab-solver');
  assert.equal(manifest.version, crateVersion);
  assert.equal(manifest.type, 'module');
  assert.equal(manifest.main, 'calab_solver.js');
  assert.equal(manifest.types, 'calab_solver.d.ts');
  for (const f of manifest.files) assert.ok(existsSync(path.join(pkgDir, f)), `${f} listed but missing`);
});

test('type declarations cover the exports', () => {
  const dts = readFileSync(path.join(pkgDir, 'calab_solver.d.ts'), 'utf8');
  assert.match(dts, /export function solver_version\(\): string;/);
  assert.match(dts, /export function initSync\(/);
});

test('the API has one casing: snake_case functions, methods and getters, PascalCase classes', async () => {
  const m = await loadSolver();
  const snake = /^_{0,2}[a-z][a-z0-9_]*$/;
  // initSync and the default export are wasm-bindgen's loader, not the crate's API.
  const loader = new Set(['default', 'initSync']);
  const offenders = [];
  let classes = 0;
  for (const [name, value] of Object.entries(m)) {
    if (loader.has(name) || typeof value !== 'function') continue;
    if (/^[A-Z]/.test(name) && value.prototype) {
      classes++;
      for (const member of Object.getOwnPropertyNames(value.prototype)) {
        if (member !== 'constructor' && !snake.test(member)) offenders.push(`${name}.${member}`);
      }
    } else if (!snake.test(name)) {
      offenders.push(name);
    }
  }
  assert.ok(classes >= 5, `found ${classes} classes`);
  assert.deepEqual(offenders, []);
});
