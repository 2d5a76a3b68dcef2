// Builds the browser code with esbuild (and tsc for declarations):
//   the client package  web/lib/index.js (ESM, its dependencies — mediasoup-client, @bufbuild/protobuf — left as
//                       imports, never inlined) + web/lib/types/** (.d.ts); what `npm pack -w web` ships;
//   the demo page       web/dist/demo.js, built from '@harmony-voice/client' (the workspace link → web/lib) the way an
//                       application consumes the installed package;
//   a standalone SDK    web/dist/voice-client.js: the package with its dependencies, one ES module for pages without
//                       a bundler (the E2E loads it).
// `npm run build:web` (everything), `npm run build -w web` / `tsx web/build.ts --package` (the package only), or
// `await buildWeb()` from the local stack and tests.
import { build } from 'esbuild';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const WEB_DIR = dirname(fileURLToPath(import.meta.url));
export const WEB_DIST_DIR = resolve(WEB_DIR, 'dist');
export const WEB_LIB_DIR = resolve(WEB_DIR, 'lib');
export const WEB_PUBLIC_DIR = resolve(WEB_DIR, 'public');
export const PACKAGE_NAME = '@harmony-voice/client';

// bigint literals and the WebRTC APIs used need a modern engine anyway.
const TARGET = ['es2020', 'chrome111', 'firefox115', 'safari16'];

/** The installable package: web/lib/index.js (+ map) and web/lib/types. */
export async function buildClientPackage(): Promise<void> {
  rmSync(WEB_LIB_DIR, { recursive: true, force: true });
  await build({
    entryPoints: { index: resolve(WEB_DIR, 'src/index.ts') },
    outdir: WEB_LIB_DIR,
    bundle: true,
    packages: 'external', // dependencies stay imports: the application's bundler resolves (and dedupes) them
    format: 'esm',
    platform: 'browser',
    target: TARGET,
    sourcemap: true,
    minify: false, // the application minifies
    legalComments: 'inline',
    logLevel: 'warning',
  });
  emitDeclarations();
}

/**
 * The demo page and the standalone SDK, both from the built package (built first). Returns the files the demo
 * bundle was built from (relative to web/), which shows that it took the package, not the SDK's sources.
 */
export async function buildWeb(options: { minify?: boolean } = {}): Promise<{ demoInputs: string[] }> {
  await buildClientPackage();
  const demo = await build({
    entryPoints: { demo: resolve(WEB_DIR, 'demo/main.ts') },
    outdir: WEB_DIST_DIR,
    metafile: true,
    absWorkingDir: WEB_DIR,
    ...applicationBuild(options),
  });
  await build({
    stdin: {
      contents: `export * from '${PACKAGE_NAME}';`,
      resolveDir: WEB_DIR,
      sourcefile: 'voice-client.js',
      loader: 'js',
    },
    outfile: join(WEB_DIST_DIR, 'voice-client.js'),
    ...applicationBuild(options),
  });
  return { demoInputs: Object.keys(demo.metafile.inputs) };
}

/** How an application bundles the package: node resolution of '@harmony-voice/client' (no path mapping to the sources). */
function applicationBuild(options: { minify?: boolean }) {
  return {
    bundle: true,
    format: 'esm' as const,
    platform: 'browser' as const,
    target: TARGET,
    sourcemap: true,
    minify: options.minify ?? true,
    legalComments: 'linked' as const,
    logLevel: 'warning' as const,
    define: { 'process.env.NODE_ENV': '"production"' },
    // The repository's tsconfig maps the package name to its sources (for the type check); an application does not.
    tsconfigRaw: { compilerOptions: {} },
  };
}

function emitDeclarations(): void {
  const configFile = resolve(WEB_DIR, 'tsconfig.lib.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configFile,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (!parsed) throw new Error(`web/build: cannot read ${configFile}`);
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
  const result = program.emit(undefined, undefined, undefined, true);
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
  if (diagnostics.length > 0) {
    throw new Error(
      `web/build: declarations failed:\n${ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => WEB_DIR, getNewLine: () => '\n' })}`,
    );
  }
  // Relative specifiers get their .js extension, so consumers with moduleResolution node16/nodenext resolve them too.
  for (const file of walk(join(WEB_LIB_DIR, 'types'))) {
    if (!file.endsWith('.d.ts')) continue;
    const text = readFileSync(file, 'utf8');
    const fixed = text.replace(
      /((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]+?)(['"])/g,
      (m, head: string, spec: string, tail: string) =>
        /\.(js|mjs|cjs|json)$/.test(spec) ? m : `${head}${spec}.js${tail}`,
    );
    if (fixed !== text) writeFileSync(file, fixed);
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  if (process.argv.includes('--package')) await buildClientPackage();
  else await buildWeb();
  console.log(
    JSON.stringify({
      level: 'info',
      msg: 'web.built',
      dirs: process.argv.includes('--package') ? [WEB_LIB_DIR] : [WEB_LIB_DIR, WEB_DIST_DIR],
      ms: Date.now() - started,
    }),
  );
}
