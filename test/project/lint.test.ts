// `npm run lint` stays clean: Biome's linter with the project's rules (biome.jsonc), import cycles among them. The
// formatter check (`npm run format:check`) joins it once the code base has been formatted in one go.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

test('biome lint reports no errors', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const result = spawnSync(
    process.execPath,
    ['node_modules/@biomejs/biome/bin/biome', 'lint', '--max-diagnostics=50', '.'],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  assert.equal(result.status, 0, result.stdout + result.stderr);
});
