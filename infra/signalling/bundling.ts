// How a handler is bundled: one truth for the CDK stack (NodejsFunction's bundling props) and for
// bench/bundles.ts (the same options through esbuild's API).
import type { BuildOptions } from 'esbuild';

/** ESM bundles still contain CommonJS dependencies that call require() for Node built-ins. */
export const ESM_REQUIRE_SHIM =
  "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";
/** The Lambda runtime's Node.js (config.ts LAMBDA_RUNTIMES). */
export const HANDLER_TARGET = 'node24';
/**
 * A source map, loaded with --enable-source-maps (HANDLER_NODE_OPTIONS), so stack traces name source files
 * and lines. Measured on Node 24 (bench/bundles.ts and docs/benchmarks.md): no measurable import cost (Node 24 reads the
 * map only when a stack trace needs it; on Node 20 it cost ~14 ms per cold start). keepNames instead cost
 * ~12 ms of CPU per import and 50 KB, so names are not kept.
 */
export const HANDLER_SOURCE_MAP = true;
export const HANDLER_KEEP_NAMES = false;
export const HANDLER_NODE_OPTIONS = '--enable-source-maps';

export function handlerEsbuildOptions(): BuildOptions {
  return {
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: HANDLER_TARGET,
    mainFields: ['module', 'main'],
    minify: true,
    keepNames: HANDLER_KEEP_NAMES,
    sourcemap: HANDLER_SOURCE_MAP,
    sourcesContent: false,
    banner: { js: ESM_REQUIRE_SHIM },
    logLevel: 'warning',
  };
}
