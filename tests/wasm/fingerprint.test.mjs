// pkg/ is committed, so the tests above would happily exercise an old build; this fails
// first, with the command that fixes it, when the sources moved on without a rebuild.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { pkgDir, repoRoot } from './load.mjs';

test('pkg/ was built from the current sources (SOURCE_FINGERPRINT)', () => {
  const r = spawnSync(path.join(repoRoot, 'scripts/check_wasm.sh'), ['--fingerprint', pkgDir], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr || r.stdout);
});
