// Sizes and import (cold start) times of the Lambda handler bundles, built with the options the CDK stack
// uses (infra/signalling/bundling.ts), and whether each carries gRPC code. Prints figures; asserts nothing.
//
//   npm run bench:bundles -- [--runs 15]
//
// Import time: a fresh `node` process per run imports the bundle (top-level code included: SDK clients,
// logger, protobuf tables) and prints performance.now() around the import; the median over the runs is
// shown, with and without --enable-source-maps (what NODE_OPTIONS had on AWS before).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildSync } from 'esbuild';
import { handlerEsbuildOptions } from '../infra/signalling/bundling';
import { HANDLERS } from '../infra/signalling-stack';
import { repoPath } from '../infra/paths';
import { percentile } from './stats';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
const runs = Number(values.runs);
const dir = mkdtempSync(join(tmpdir(), 'harmony-bundles-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function importMs(file: string, flags: string[]): number {
  const probe = join(dir, 'probe.mjs');
  writeFileSync(probe, `const t0 = performance.now(); await import(${JSON.stringify(file)}); console.log(performance.now() - t0);\n`);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const run = spawnSync(process.execPath, [...flags, probe], { encoding: 'utf8', env: { PATH: process.env.PATH, LOG_LEVEL: 'silent' } });
    if (run.status !== 0) throw new Error(`bench.bundles: importing ${file} failed: ${run.stderr}`);
    samples.push(Number(run.stdout.trim()));
  }
  return percentile(samples.sort((a, b) => a - b), 50);
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
console.log(`node ${process.version}; ${runs} runs per figure (median)`);
console.log(['handler', 'bundle', 'source map', 'gRPC code', 'import ms', 'import ms (--enable-source-maps)'].join(' | '));
for (const [name, spec] of Object.entries(HANDLERS)) {
  const outfile = join(dir, `${name}.mjs`);
  buildSync({ ...handlerEsbuildOptions(), entryPoints: [repoPath(spec.entry)], outfile });
  const size = statSync(outfile).size;
  let mapSize = 0;
  try { mapSize = statSync(`${outfile}.map`).size; } catch { /* no source map */ }
  const grpc = /@grpc\/grpc-js|grpc-node-js|\bHttp2SubchannelConnector\b/.test(readFileSync(outfile, 'utf8'));
  const plain = importMs(outfile, []);
  const mapped = importMs(outfile, ['--enable-source-maps']);
  console.log([name, kb(size), mapSize ? kb(mapSize) : '-', grpc ? 'yes' : 'no', plain.toFixed(1), mapped.toFixed(1)].join(' | '));
}
