// The Debian packages a media host installs for the shipped worker (tools/mediasoup-worker/runtime-packages.txt)
// are exactly the packages whose libraries the tested worker links (ldd, then dpkg -S per library).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { test } from 'node:test';
import { testedWorkerPath } from '../../infra/media-fleet/bundle';
import { repoPath } from '../../infra/paths';

test('runtime-packages.txt names exactly the Debian packages the tested worker links', () => {
  const listed = readFileSync(repoPath('tools/mediasoup-worker/runtime-packages.txt'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .sort();
  const ldd = execFileSync('ldd', [testedWorkerPath()], { encoding: 'utf8' });
  assert.doesNotMatch(ldd, /not found/);
  const libraries = [...ldd.matchAll(/=>\s+(\/\S+)/g)].map((m) => m[1]!);
  const owner = (path: string): string => {
    for (const candidate of [path, realpathSync(path)]) {
      try {
        return execFileSync('dpkg', ['-S', candidate], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
          .split(':')[0]!
          .trim();
      } catch {
        /* try the resolved path */
      }
    }
    throw new Error(`no Debian package owns ${path}`);
  };
  const linked = [...new Set(libraries.map(owner))].sort();
  assert.deepEqual(linked, listed);
});
