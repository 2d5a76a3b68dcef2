// The documentation holds together: every relative link in the README, docs/ and the other Markdown files of the
// repository resolves to a file that exists, every #anchor names a heading of its page (as GitHub derives it), and
// every page in docs/ is linked from the README, so a newcomer can reach it from the first page.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { anchorsOf, linksOf, slugger } from '../support/markdown';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SKIPPED_DIRECTORIES = new Set(['node_modules', 'cdk.out', 'test-artifacts']);

function markdownFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    if (name.startsWith('.') || SKIPPED_DIRECTORIES.has(name)) return [];
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

describe('documentation links', () => {
  const files = markdownFiles(root);
  const anchors = new Map<string, Set<string>>();
  const anchorsIn = (file: string): Set<string> => {
    let found = anchors.get(file);
    if (!found) {
      found = anchorsOf(readFileSync(file, 'utf8'));
      anchors.set(file, found);
    }
    return found;
  };

  it('finds the README and the docs pages', () => {
    const names = files.map((file) => relative(root, file));
    assert.ok(names.includes('README.md'));
    assert.ok(names.filter((name) => name.startsWith('docs/')).length >= 5, names.join(', '));
  });

  it('every relative link resolves and every anchor names a heading of its page', () => {
    const broken: string[] = [];
    for (const file of files) {
      for (const { target, line } of linksOf(readFileSync(file, 'utf8'))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: — not this test's business
        const where = `${relative(root, file)}:${line} → ${target}`;
        const [path, anchor] = target.split('#', 2) as [string, string | undefined];
        const linked = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
        if (!existsSync(linked)) {
          broken.push(`${where}: no such file`);
          continue;
        }
        if (anchor === undefined) continue;
        if (!linked.endsWith('.md')) broken.push(`${where}: an anchor into a file that is not Markdown`);
        else if (!anchorsIn(linked).has(decodeURIComponent(anchor))) broken.push(`${where}: no such heading`);
      }
    }
    assert.deepEqual(broken, []);
  });

  it('the README links to every page in docs/', () => {
    const linked = new Set(
      linksOf(readFileSync(join(root, 'README.md'), 'utf8')).map(({ target }) => target.split('#')[0]),
    );
    const pages = files.map((file) => relative(root, file)).filter((name) => name.startsWith('docs/'));
    assert.deepEqual(
      pages.filter((page) => !linked.has(page)),
      [],
    );
  });
});

describe('the Markdown reader of this check', () => {
  it('derives anchors as GitHub does', () => {
    const slug = slugger();
    assert.equal(
      slug("Resume: a voice session outlives its WebSocket (`resume.v1`, this project's extension)"),
      'resume-a-voice-session-outlives-its-websocket-resumev1-this-projects-extension',
    );
    assert.equal(
      slug('Extensions: one negotiation for all of them (`+ext.v1`, Hello → Welcome)'),
      'extensions-one-negotiation-for-all-of-them-extv1-hello--welcome',
    );
    assert.equal(slug('Cost (`npm run bench:scale`)'), 'cost-npm-run-benchscale');
    assert.equal(slug('Cost (`npm run bench:scale`)'), 'cost-npm-run-benchscale-1', 'a repeated heading gets -1');
  });

  it('finds links outside code only, and headings outside fences only', () => {
    const text = [
      '# Title',
      'see [the page](other.md#part) and `[not a link](nowhere.md)`',
      '```',
      '# not a heading [nor a link](nowhere.md)',
      '```',
      '## Part',
    ].join('\n');
    assert.deepEqual(linksOf(text), [{ target: 'other.md#part', line: 2 }]);
    assert.deepEqual([...anchorsOf(text)], ['title', 'part']);
  });
});
