// How a handler is bundled: one truth for the CDK stack (NodejsFunction's bundling props) and for
// bench/bundles.ts (the same options through esbuild's API).
import type { BuildOptions } from 'esbuild';

/** ESM bundles still contain CommonJS dependencies that call require() for Node built-ins. */
export const ESM_REQUIRE_SHIM = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";
/** The Lambda runtime's Node.js (config.ts LAMBDA_RUNTIMES). */
export const HANDLER_TARGET = 'node24';
/** No source map (and no --enable-source-maps): names are kept instead, so stack traces stay readable. */
export const HANDLER_SOURCE_MAP = false;
export const HANDLER_KEEP_NAMES = true;

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
    banner: { js: ESM_REQUIRE_SHIM },
    logLevel: 'warning',
  };
}
