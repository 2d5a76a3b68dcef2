// Sizes and import (cold start) costs of the Lambda handler bundles, built with the options the CDK stack
// uses (infra/signalling/bundling.ts), and whether each carries gRPC code. Prints figures; asserts nothing.
//
//   npm run bench:bundles -- [--runs 15] [--root <checkout>] [--legacy]
//
// --root bundles the handlers of another checkout (e.g. `git archive <commit> | tar -x -C /tmp/base`, with a
// node_modules symlink); --legacy uses the options this project deployed before Node 24 (target node20, a
// source map loaded with --enable-source-maps, names not kept), to compare before and after.
// Import cost: a fresh `node` process per run imports the bundle (top-level code included: SDK clients,
// logger, protobuf tables) and reports the wall time and the CPU time (user + system) of the import alone;
// medians over the runs. CPU time is the steadier figure on a shared machine (the load average is printed).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildSync, type BuildOptions } from 'esbuild';
import { ESM_REQUIRE_SHIM, HANDLER_NODE_OPTIONS, handlerEsbuildOptions } from '../infra/signalling/bundling';
import { HANDLERS } from '../infra/signalling-stack';
import { REPO_ROOT } from '../infra/paths';
import { percentile } from './stats';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    root: { type: 'string' },
    legacy: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const root = resolve(values.root ?? REPO_ROOT);
const dir = mkdtempSync(join(tmpdir(), 'harmony-bundles-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const LEGACY: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  mainFields: ['module', 'main'],
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  banner: { js: ESM_REQUIRE_SHIM },
  logLevel: 'warning',
};
const options = values.legacy ? LEGACY : handlerEsbuildOptions();
const runtimeFlags = values.legacy ? ['--enable-source-maps'] : HANDLER_NODE_OPTIONS.split(' ').filter(Boolean);

function importCost(file: string, flags: string[]): { wall: number; cpu: number } {
  const probe = join(dir, 'probe.mjs');
  writeFileSync(
    probe,
    `const c0 = process.cpuUsage(); const t0 = performance.now(); await import(${JSON.stringify(file)});
const t = performance.now() - t0; const c = process.cpuUsage(c0); console.log(JSON.stringify({ wall: t, cpu: (c.user + c.system) / 1000 }));\n`,
  );
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < runs; i++) {
    const run = spawnSync(process.execPath, [...flags, probe], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, LOG_LEVEL: 'silent' },
    });
    if (run.status !== 0) throw new Error(`bench.bundles: importing ${file} failed: ${run.stderr}`);
    const { wall, cpu } = JSON.parse(run.stdout.trim()) as { wall: number; cpu: number };
    walls.push(wall);
    cpus.push(cpu);
  }
  return {
    wall: percentile(
      walls.sort((a, b) => a - b),
      50,
    ),
    cpu: percentile(
      cpus.sort((a, b) => a - b),
      50,
    ),
  };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
console.log(
  `node ${process.version}; ${values.legacy ? 'legacy options (node20, source map + --enable-source-maps)' : `current options (target node24, source map + ${HANDLER_NODE_OPTIONS})`}; ` +
    `root ${root}; ${runs} runs per figure (median); load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
);
console.log(['handler', 'bundle', 'source map', 'gRPC code', 'import wall ms', 'import CPU ms'].join(' | '));
for (const [name, spec] of Object.entries(HANDLERS)) {
  const outfile = join(dir, `${name}.mjs`);
  buildSync({ ...options, entryPoints: [join(root, spec.entry)], outfile });
  const size = statSync(outfile).size;
  let mapSize = 0;
  try {
    mapSize = statSync(`${outfile}.map`).size;
  } catch {
    /* no source map */
  }
  const grpc = /@grpc\/grpc-js|grpc-node-js|\bHttp2SubchannelConnector\b/.test(readFileSync(outfile, 'utf8'));
  const cost = importCost(outfile, runtimeFlags);
  console.log(
    [name, kb(size), mapSize ? kb(mapSize) : '-', grpc ? 'yes' : 'no', cost.wall.toFixed(1), cost.cpu.toFixed(1)].join(
      ' | ',
    ),
  );
}
