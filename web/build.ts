// Bundles the browser code with esbuild into web/dist/: `demo.js` (the demo page, served at
// /dist/demo.js) and `voice-client.js` (the SDK as one ES module for other pages).
// `npm run build:web`, or `await buildWeb()` from the local stack and tests.
import { build } from 'esbuild';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB_DIR = dirname(fileURLToPath(import.meta.url));
export const WEB_DIST_DIR = resolve(WEB_DIR, 'dist');
export const WEB_PUBLIC_DIR = resolve(WEB_DIR, 'public');

export async function buildWeb(options: { minify?: boolean } = {}): Promise<void> {
  await build({
    entryPoints: {
      demo: resolve(WEB_DIR, 'demo/main.ts'),
      'voice-client': resolve(WEB_DIR, 'src/index.ts'),
    },
    outdir: WEB_DIST_DIR,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // bigint literals and the WebRTC APIs used need a modern engine anyway.
    target: ['es2020', 'chrome111', 'firefox115', 'safari16'],
    sourcemap: true,
    minify: options.minify ?? true,
    legalComments: 'linked',
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  await buildWeb();
  console.log(JSON.stringify({ level: 'info', msg: 'web.built', dir: WEB_DIST_DIR, ms: Date.now() - started }));
}
