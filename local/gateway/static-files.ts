// Serves the web demo from local directories (never on AWS): each mount maps a URL prefix to a directory.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';

export interface StaticMount {
  /** URL prefix ending in '/', e.g. '/' or '/dist/'. */
  prefix: string;
  dir: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

export function contentTypeOf(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Resolves a URL path to a file under one of the mounts (longest prefix first; '/x/' → '/x/index.html').
 * Returns undefined for paths outside every mount, including '..' escapes.
 */
export function resolveStaticPath(urlPath: string, mounts: readonly StaticMount[]): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const sorted = [...mounts].sort((a, b) => b.prefix.length - a.prefix.length);
  for (const mount of sorted) {
    if (!decoded.startsWith(mount.prefix)) continue;
    let rest = decoded.slice(mount.prefix.length);
    if (rest === '' || rest.endsWith('/')) rest += 'index.html';
    const root = resolve(mount.dir);
    const file = resolve(root, rest);
    if (file.startsWith(root + sep)) return file;
    return undefined;
  }
  return undefined;
}

/** Serves GET/HEAD for a file under the mounts; returns false when no file matches so other routes can answer. */
export async function serveStatic(
  req: IncomingMessage,
  res: ServerResponse,
  mounts: readonly StaticMount[],
): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = new URL(req.url ?? '/', 'http://gateway.invalid').pathname;
  const file = resolveStaticPath(path, mounts);
  if (!file) return false;
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) return false;
  res.writeHead(200, {
    'content-type': contentTypeOf(file),
    'content-length': info.size,
    'cache-control': 'no-cache',
  });
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  createReadStream(file)
    .on('error', (err) => res.destroy(err))
    .pipe(res);
  return true;
}
