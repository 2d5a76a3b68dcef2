// The environment variables a Lambda handler's code can read, found in the sources esbuild bundles for it
// (the same options as the stack: infra/signalling/bundling.ts), dependencies excluded. Direct reads
// (`env.NAME`, `env['NAME']`) and, in a file that reads `env[name]` with a computed name, the variable-like
// names it lists (arrays and tables of names). Used by test/infra/environment.test.ts.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { buildSync } from 'esbuild';
import { handlerEsbuildOptions } from '../signalling/bundling';
import { REPO_ROOT } from '../paths';

const ENV_NAME = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/;

/** Names read by the code bundled for `entry` (absolute path), with the files reading each. */
export function environmentReads(entry: string): Map<string, string[]> {
  const result = buildSync({
    ...handlerEsbuildOptions(),
    entryPoints: [entry],
    write: false,
    metafile: true,
    outdir: '/tmp/unused',
    logLevel: 'silent',
  });
  const reads = new Map<string, string[]>();
  const add = (name: string, file: string) => reads.set(name, [...new Set([...(reads.get(name) ?? []), file])]);
  for (const input of Object.keys(result.metafile!.inputs)) {
    if (input.includes('node_modules/')) continue;
    const file = relative(REPO_ROOT, input.startsWith('/') ? input : `${REPO_ROOT}/${input}`);
    const text = readFileSync(`${REPO_ROOT}/${file}`, 'utf8')
      .replace(/^\s*\/\/.*$/gm, '')
      .replace(/\/\*[\s\S]*?\*\//g, '');
    for (const m of text.matchAll(/\benv\s*(?:\.\s*([A-Z][A-Z0-9_]*)|\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\])/g))
      add(m[1] ?? m[2]!, file);
    if (/\benv\s*\[\s*[^'"\s]/.test(text)) {
      for (const m of text.matchAll(/['"]([A-Z][A-Z0-9_]+)['"]|^\s*([A-Z][A-Z0-9_]+)\s*:/gm)) {
        const name = m[1] ?? m[2]!;
        if (ENV_NAME.test(name)) add(name, file);
      }
    }
  }
  return reads;
}
