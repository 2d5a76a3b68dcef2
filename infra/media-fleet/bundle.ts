// How the media node reaches EC2: an S3 asset built at synth time from this repository.
//   main.mjs(.map)  media-node/main.ts bundled by esbuild (gRPC, AWS SDK, protobuf code all inlined)
//   package.json    one dependency, mediasoup at the repository's exact version: `npm install` on the
//                   instance runs mediasoup's own install script, which fetches the prebuilt worker
//                   binary for the instance's kernel and architecture (a native binary cannot come
//                   from this machine's node_modules, which may be another OS/arch or a local build)
//   host/           install script, systemd units, load publisher, lifecycle watcher
// Built with esbuild's API in-process: no Docker, no network; the asset hash is the output's.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { buildSync } from 'esbuild';
import type { Construct } from 'constructs';
import { repoPath } from '../paths';

const ENTRY = 'media-node/main.ts';
const HOST_DIR = 'infra/media-fleet/host';
const ESM_REQUIRE_SHIM = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

/** Writes the media node bundle into `outputDir`. */
export function bundleMediaNode(outputDir: string): void {
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
  const rootPackage = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const mediasoupVersion = rootPackage.dependencies?.mediasoup;
  if (!mediasoupVersion) throw new Error('infra.media-bundle: package.json has no mediasoup dependency');
  const manifest = {
    name: 'harmony-media-node',
    private: true,
    type: 'module',
    description: 'Bundled media node; installed by host/install.sh',
    dependencies: { mediasoup: mediasoupVersion },
  };
  writeFileSync(join(outputDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
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
