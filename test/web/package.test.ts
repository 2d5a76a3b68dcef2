// The client package as an application gets it: `npm pack` of the workspace (its prepack builds it), the tarball
// installed into a scratch project offline (dependencies from the npm cache, pinned by this repository's lockfile),
// a small app type-checked against the shipped .d.ts (moduleResolution bundler and nodenext) and bundled with esbuild.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { build } from 'esbuild';
import ts from 'typescript';
import { REPO_ROOT } from '../../local/stack';

const run = promisify(execFile);
const webPackage = JSON.parse(readFileSync(join(REPO_ROOT, 'web/package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
};

let scratch: string;
let packed: { filename: string; files: { path: string }[] };

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'harmony-client-app-'));
  const { stdout } = await run('npm', ['pack', '--workspace', 'web', '--json', '--pack-destination', scratch], {
    cwd: REPO_ROOT,
    maxBuffer: 16 << 20,
  });
  // prepack's build prints its own line first; npm's JSON report is the array after it.
  packed = (JSON.parse(stdout.slice(stdout.search(/^\[/m))) as (typeof packed)[])[0]!;
});
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the @harmony-voice/client package', () => {
  test('the tarball holds the ESM bundle, the declarations, README and CHANGELOG — no sources, demo or tests', () => {
    const files = packed.files.map((f) => f.path).sort();
    for (const needed of [
      'package.json',
      'README.md',
      'CHANGELOG.md',
      'lib/index.js',
      'lib/index.js.map',
      'lib/types/web/src/index.d.ts',
      'lib/types/protocol/hrpc.d.ts',
    ]) {
      assert.ok(files.includes(needed), `${needed} is packed (${files.join(', ')})`);
    }
    assert.ok(
      !files.some((f) => /^(src|demo|public|dist)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts'))),
      files.join(', '),
    );
    assert.match(packed.filename, /^harmony-voice-client-\d+\.\d+\.\d+\.tgz$/);
  });

  test('installs offline into a scratch project; a small app type-checks (bundler and nodenext) and bundles', async () => {
    writeFileSync(
      join(scratch, 'package.json'),
      JSON.stringify(
        {
          name: 'scratch-voice-app',
          version: '1.0.0',
          private: true,
          type: 'module',
          dependencies: { [webPackage.name]: `file:${packed.filename}` },
        },
        null,
        2,
      ),
    );
    writeFileSync(join(scratch, 'package-lock.json'), JSON.stringify(scratchLock(packed.filename), null, 2));
    try {
      await run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: scratch });
    } catch (err) {
      // The repository's `npm ci` fills the cache with exactly these packages; a cache cleaned since then is refilled.
      if (!/ENOTCACHED/.test(String((err as { stderr?: string }).stderr))) throw err;
      console.log('# npm cache incomplete (ENOTCACHED): installing the scratch app with --prefer-offline');
      await run('npm', ['ci', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: scratch });
    }
    const installed = JSON.parse(readFileSync(join(scratch, 'node_modules', webPackage.name, 'package.json'), 'utf8'));
    assert.equal(installed.version, webPackage.version);

    mkdirSync(join(scratch, 'src'));
    writeFileSync(join(scratch, 'src/app.ts'), APP);
    for (const moduleResolution of ['bundler', 'nodenext'] as const) {
      assert.deepEqual(
        typeCheck(join(scratch, 'src/app.ts'), moduleResolution),
        [],
        `type check with moduleResolution ${moduleResolution}`,
      );
    }
    // The check has teeth: a misuse of the API is an error.
    writeFileSync(
      join(scratch, 'src/wrong.ts'),
      `import { VoiceClient } from '${webPackage.name}';\nnew VoiceClient().connect({ url: 'x', token: 't', guildId: 1, channelId: 2 });\n`,
    );
    assert.match(typeCheck(join(scratch, 'src/wrong.ts'), 'bundler').join('\n'), /guildId|number/);

    const result = await build({
      entryPoints: [join(scratch, 'src/app.ts')],
      absWorkingDir: scratch,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['es2020'],
      write: false,
      metafile: true,
      logLevel: 'silent',
      tsconfigRaw: { compilerOptions: {} },
    });
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.includes(`node_modules/${webPackage.name}/lib/index.js`), inputs.join('\n'));
    assert.ok(
      inputs.some((i) => i.startsWith('node_modules/mediasoup-client/')),
      'mediasoup-client comes from its own package',
    );
    assert.deepEqual(
      inputs.filter((i) => !i.startsWith('node_modules/')),
      ['src/app.ts'],
      'everything else comes from installed packages',
    );
  });

  test('the package itself does not inline its dependencies', () => {
    const bundle = readFileSync(join(REPO_ROOT, 'web/lib/index.js'), 'utf8');
    assert.match(bundle, /from "mediasoup-client"/);
    assert.doesNotMatch(bundle, /class Device\b/);
    assert.deepEqual(Object.keys(webPackage.dependencies).sort(), ['@bufbuild/protobuf', 'mediasoup-client']);
  });
});

const APP = `import { ClientErrorId, VoiceClient, VoiceClientError, VOICE_STREAM_PATH, consoleLogger, type VoiceErrorEvent, type ConnectOptions } from '@harmony-voice/client';

const voice = new VoiceClient({ log: consoleLogger('warn') });
voice.on('joined', ({ users }) => console.log('in the channel with', users.length));
voice.on('track', ({ userId, track }) => {
  const audio = new Audio();
  audio.srcObject = new MediaStream([track]);
  void audio.play();
  console.log(userId);
});
voice.on('error', (e: VoiceErrorEvent) => console.warn(e.identifier, e.message));

export async function join(server: string, token: () => Promise<string>): Promise<void> {
  const options: ConnectOptions = { url: server + VOICE_STREAM_PATH, token, guildId: '9223372036854775813', channelId: 7n };
  try {
    await voice.connect(options);
  } catch (err) {
    if (err instanceof VoiceClientError && err.identifier === ClientErrorId.microphoneDenied) console.warn('no microphone');
    throw err;
  }
  voice.mute();
  await voice.leave();
}
`;

/** Diagnostics of one file against the installed package, as a consumer's tsc would report them (lib checks on). */
function typeCheck(file: string, moduleResolution: 'bundler' | 'nodenext'): string[] {
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: [],
    ...(moduleResolution === 'bundler'
      ? { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler }
      : { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }),
  };
  const program = ts.createProgram([file], options);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [k: string]: unknown;
}

/**
 * A lockfile for the scratch project: the tarball, plus the package's dependency closure exactly as this
 * repository's lockfile pins it (same versions, same integrity, same layout), so `npm ci --offline` takes every
 * tarball from the npm cache that the repository's own `npm ci` filled.
 */
function scratchLock(tarball: string) {
  const root = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const packages: Record<string, LockEntry> = {
    '': { name: 'scratch-voice-app', version: '1.0.0', dependencies: { [webPackage.name]: `file:${tarball}` } },
    [`node_modules/${webPackage.name}`]: {
      version: webPackage.version,
      resolved: `file:${tarball}`,
      dependencies: webPackage.dependencies,
    },
  };
  const visit = (from: string, deps: Record<string, string> = {}, optional = false) => {
    for (const name of Object.keys(deps)) {
      let at = from;
      let location: string | undefined;
      for (;;) {
        // node's resolution: the nearest node_modules/<name> up the tree
        const candidate = `${at ? `${at}/` : ''}node_modules/${name}`;
        if (root.packages[candidate] && !root.packages[candidate]!.link) {
          location = candidate;
          break;
        }
        if (!at) break;
        at = at.includes('/node_modules/') ? at.slice(0, at.lastIndexOf('/node_modules/')) : '';
      }
      if (!location) {
        if (optional) continue;
        throw new Error(`scratch lock: ${name} (needed by ${from || 'the package'}) is not in package-lock.json`);
      }
      if (packages[location]) continue;
      const entry = { ...root.packages[location]! };
      delete entry.dev;
      delete entry.devOptional;
      packages[location] = entry;
      visit(location, entry.dependencies);
      visit(location, entry.optionalDependencies, true);
    }
  };
  visit(`node_modules/${webPackage.name}`, webPackage.dependencies);
  // The client's own entry sits at node_modules/@harmony-voice/client; its dependencies resolve from there upwards.
  return { name: 'scratch-voice-app', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}
