// `npm run bench:srtp`: what one SRTP packet costs with Debian's libsrtp2 (built against NSS) and with
// the OpenSSL build the offline worker links (tools/mediasoup-worker/build.sh keeps it in the worker
// cache). bench/srtp/protect.c is compiled twice (same source, same flags), then for each profile:
//   - instructions per packet under callgrind (N2 − N1 packets, so setup cancels out): exact and
//     repeatable whatever else the machine does;
//   - CPU ns per packet over 200,000 packets (process CPU time; noisy on a shared machine).
// Packets are Opus-sized (12 + 80 bytes), protected as the worker does once per consumer.
//   npm run bench:srtp -- [--packets 200000] [--profiles gcm256,gcm128,cm80] [--no-callgrind]
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const run = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    packets: { type: 'string', default: '200000' },
    profiles: { type: 'string', default: 'gcm256,gcm128,cm80' },
    'no-callgrind': { type: 'boolean', default: false },
  },
});
const NAMES: Record<string, string> = {
  gcm256: 'AEAD_AES_256_GCM',
  gcm128: 'AEAD_AES_128_GCM',
  cm80: 'AES_CM_128_HMAC_SHA1_80',
  cm32: 'AES_CM_128_HMAC_SHA1_32',
};

async function main(): Promise<void> {
  const version = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/mediasoup/package.json'), 'utf8'))
    .version as string;
  const cacheRoot = process.env.MEDIASOUP_WORKER_CACHE_DIR ?? join(REPO_ROOT, '.mediasoup-worker');
  const prefix = join(cacheRoot, version, 'libsrtp2-openssl');
  if (!existsSync(join(prefix, 'lib', 'libsrtp2.a'))) {
    throw new Error(
      `no OpenSSL libsrtp2 at ${prefix}: the offline worker build makes it (tools/mediasoup-worker/build.sh)`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'bench-srtp-'));
  try {
    const source = join(REPO_ROOT, 'bench/srtp/protect.c');
    const nss = join(dir, 'protect-nss');
    const openssl = join(dir, 'protect-openssl');
    await run('cc', ['-O2', '-o', nss, source, '-lsrtp2']);
    await run('cc', [
      '-O2',
      '-o',
      openssl,
      `-I${join(prefix, 'include')}`,
      source,
      join(prefix, 'lib', 'libsrtp2.a'),
      '-lcrypto',
    ]);
    const { stdout: ldd } = await run('ldd', [nss]);
    const nssLinked = /libnss3/.test(ldd) || /libsrtp2\.so/.test(ldd);
    console.log(
      `libsrtp2: Debian's shared library (${nssLinked ? 'linked against NSS' : 'see ldd'}) vs ${prefix} (static, OpenSSL)`,
    );

    const profiles = args.profiles!.split(',');
    const packets = Number(args.packets);
    console.log(
      'profile                   | NSS ns/pkt | OpenSSL ns/pkt | ratio | NSS instr/pkt | OpenSSL instr/pkt | ratio',
    );
    for (const profile of profiles) {
      const time = async (bin: string) =>
        Number((await run(bin, [String(packets), profile])).stdout.trim().split(' ')[1]);
      const [nsNss, nsOssl] = [await time(nss), await time(openssl)];
      let instr = ['', '', ''];
      if (!args['no-callgrind']) {
        const perPacket = async (bin: string) => {
          const count = async (n: number) => {
            const { stderr } = await run('valgrind', [
              '--tool=callgrind',
              `--callgrind-out-file=${join(dir, 'cg.out')}`,
              bin,
              String(n),
              profile,
            ]);
            return Number(/Collected : (\d+)/.exec(stderr)?.[1]);
          };
          return ((await count(20_000)) - (await count(10_000))) / 10_000;
        };
        const [a, b] = [await perPacket(nss), await perPacket(openssl)];
        instr = [a.toFixed(0), b.toFixed(0), `×${(a / b).toFixed(2)}`];
      }
      console.log(
        [
          NAMES[profile]!.padEnd(25),
          nsNss.toFixed(0).padStart(10),
          nsOssl.toFixed(0).padStart(14),
          `×${(nsNss / nsOssl).toFixed(2)}`.padStart(5),
          instr[0]!.padStart(13),
          instr[1]!.padStart(17),
          instr[2]!.padStart(5),
        ].join(' | '),
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
