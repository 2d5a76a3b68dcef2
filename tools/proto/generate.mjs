// `npm run proto`: regenerate gen/ from proto/ with buf's compiler + ts-proto. gen/ changes only this way;
// test/proto/generated-fresh.test.ts fails when the committed gen/ differs from a fresh run.
// buf comes from npm (@bufbuild/buf ships its binary, pinned by the lockfile), so no protoc install is needed.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = resolve(root, process.argv[2] ?? 'gen');

// forceLong=bigint: uint64 ids are bigints end to end, never a JS number.
const common = [
  'forceLong=bigint',
  'oneof=unions-value',
  'esModuleInterop=true',
  'outputJsonMethods=false',
  'outputPartialMethods=false',
  'useOptionals=none',
];
const targets = [
  // Public protocol: also bundled for browsers, so no gRPC service code (it would pull in @grpc/grpc-js).
  { paths: ['protocol', 'hrpc', 'harmonyvoice'], opt: [...common, 'outputServices=false', 'env=both'] },
  // Internal media-node API: grpc-js client and server definitions.
  { paths: ['medianode'], opt: [...common, 'outputServices=grpc-js', 'env=node'] },
];

rmSync(out, { recursive: true, force: true });
for (const { paths, opt } of targets) {
  const template = JSON.stringify({
    version: 'v2',
    plugins: [{ local: resolve(root, 'node_modules/.bin/protoc-gen-ts_proto'), out, strategy: 'all', opt }],
  });
  execFileSync(
    resolve(root, 'node_modules/.bin/buf'),
    ['generate', '--template', template, ...paths.flatMap((p) => ['--path', p])],
    { cwd: resolve(root, 'proto'), stdio: 'inherit' },
  );
}
