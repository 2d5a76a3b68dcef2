// The documentation's tables are complete: docs/errors.md has every error identifier the service can send (the two
// hRPC identifiers the codec only reserves are exempt, and nothing may send them), docs/configuration.md has every
// metric of lib/metrics.ts and every handler variable that is optional or one of alternatives, and docs/media-node.md
// every MEDIA_* variable the media node reads.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ALTERNATIVE_HANDLER_ENV, OPTIONAL_HANDLER_ENV } from '../../infra/signalling/handler-env';
import { METRIC } from '../../lib/metrics';
import { ErrorId } from '../../protocol/errors';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** Reserved by hRPC, named in protocol/errors.ts for completeness, never sent by this service. */
const RESERVED_NOT_SENT: ReadonlyArray<keyof typeof ErrorId> = ['resourceExhausted', 'notImplemented'];

/** The page names the variable in code: `NAME` or `NAME=value`. */
function named(page: string, name: string): boolean {
  return page.includes(`\`${name}\``) || page.includes(`\`${name}=`);
}

function sources(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (name === 'node_modules' || name === 'lib') return [];
    if (statSync(path).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) ? [path] : [];
  });
}

test('every error identifier the service sends is in docs/errors.md', () => {
  const table = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  const undocumented = Object.entries(ErrorId)
    .filter(([key]) => !RESERVED_NOT_SENT.includes(key as keyof typeof ErrorId))
    .filter(([, identifier]) => !table.includes(`\`${identifier}\``))
    .map(([, identifier]) => identifier);
  assert.deepEqual(undocumented, []);
});

test('the reserved identifiers left out of docs/errors.md are sent nowhere', () => {
  const senders = ['functions', 'protocol', 'local', 'media-node', 'web/src']
    .flatMap((directory) => sources(join(root, directory)))
    .filter((file) => !file.endsWith(join('protocol', 'errors.ts')));
  const uses = senders.flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    return RESERVED_NOT_SENT.filter((key) => text.includes(`ErrorId.${key}`) || text.includes(`'${ErrorId[key]}'`)).map(
      (key) => `${file}: ${key}`,
    );
  });
  assert.deepEqual(uses, []);
});

test('every metric the signalling side emits is in the metrics table of docs/configuration.md', () => {
  const page = readFileSync(join(root, 'docs/configuration.md'), 'utf8');
  const section = page.slice(page.indexOf('## Metrics'));
  const next = section.indexOf('\n## ');
  const table = next === -1 ? section : section.slice(0, next);
  assert.ok(table.includes('| metric |'), 'the metrics section holds the table');
  assert.deepEqual(
    Object.values(METRIC).filter((name) => !table.includes(`\`${name}\``)),
    [],
  );
});

test("the handlers' optional and alternative environment variables are in docs/configuration.md", () => {
  const page = readFileSync(join(root, 'docs/configuration.md'), 'utf8');
  const variables = [...Object.keys(OPTIONAL_HANDLER_ENV), ...Object.values(ALTERNATIVE_HANDLER_ENV).flat()];
  assert.ok(variables.length > 20, variables.join(' '));
  assert.deepEqual(
    variables.filter((name) => !named(page, name)),
    [],
  );
});

test('every MEDIA_* variable the media node reads is in docs/media-node.md', () => {
  const page = readFileSync(join(root, 'docs/media-node.md'), 'utf8');
  const read = new Set<string>();
  for (const file of sources(join(root, 'media-node'))) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:'|env\.)(MEDIA_[A-Z0-9_]+)/g)) read.add(match[1] as string);
  }
  assert.ok(read.size > 30, [...read].join(' '));
  assert.deepEqual(
    [...read].filter((name) => !named(page, name)),
    [],
  );
});
