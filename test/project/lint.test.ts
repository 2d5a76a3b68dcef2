// The repository keeps one style: `biome ci` fails on any file the formatter would change (`npm run format` fixes it),
// on any lint error (biome.jsonc: Biome's recommended rules, import cycles, kebab-case file names) — the same check
// `npm run check` runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

test('biome ci: formatted, and no lint errors', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const result = spawnSync(
    process.execPath,
    ['node_modules/@biomejs/biome/bin/biome', 'ci', '--max-diagnostics=50', '.'],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  assert.equal(result.status, 0, result.stdout + result.stderr);
});
