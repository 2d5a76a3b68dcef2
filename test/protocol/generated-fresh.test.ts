// Fails when gen/ is not what `npm run proto` produces from proto/ (someone edited one without the other).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

test('committed gen/ matches a fresh `npm run proto`', () => {
  const out = mkdtempSync(join(tmpdir(), 'gen-'));
  try {
    execFileSync(process.execPath, [join(root, 'tools/proto/generate.mjs'), out], { stdio: 'pipe' });
    const fresh = listFiles(out)
      .map((f) => relative(out, f))
      .sort();
    const committed = listFiles(join(root, 'gen'))
      .map((f) => relative(join(root, 'gen'), f))
      .sort();
    assert.deepEqual(committed, fresh, 'gen/ has a different set of files: run `npm run proto`');
    for (const file of fresh) {
      assert.equal(
        readFileSync(join(root, 'gen', file), 'utf8'),
        readFileSync(join(out, file), 'utf8'),
        `gen/${file} is stale: run \`npm run proto\``,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
