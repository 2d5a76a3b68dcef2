// The local-only extras: the web demo's static files, GET /dev/token and the development issuer's JWKS.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jwksFromJson } from '../../functions/auth/keys';
import { TokenVerifier } from '../../functions/auth/token';
import { DevIssuer, signingKey } from '../../local/dev-issuer';
import { startLocalGateway, type LocalGateway } from '../../local/gateway';
import { resolveStaticPath } from '../../local/gateway/static-files';
import { quiet, recordingHandlers } from './helpers';

describe('static files and /dev/token', () => {
  let dir: string;
  let gateway: LocalGateway;
  let bare: LocalGateway;
  const issuer = new DevIssuer([signingKey(generateKeyPairSync('ed25519').privateKey)], 'test-issuer', 'test-audience');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'local-gateway-static-'));
    mkdirSync(join(dir, 'public/sub'), { recursive: true });
    mkdirSync(join(dir, 'dist'), { recursive: true });
    writeFileSync(join(dir, 'public/index.html'), '<!doctype html><title>demo</title>');
    writeFileSync(join(dir, 'public/style.css'), 'body{}');
    writeFileSync(join(dir, 'public/sub/index.html'), 'sub');
    writeFileSync(join(dir, 'dist/app.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'outside');
    const mounts = [
      { prefix: '/', dir: join(dir, 'public') },
      { prefix: '/dist/', dir: join(dir, 'dist') },
    ];
    gateway = await startLocalGateway({
      ...quiet,
      handlers: recordingHandlers().handlers,
      staticMounts: mounts,
      devIssuer: issuer,
    });
    bare = await startLocalGateway({ ...quiet, handlers: recordingHandlers().handlers });
  });
  after(async () => {
    await Promise.all([gateway.close(), bare.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves index.html at / and files with their content types', async () => {
    const index = await get(`${gateway.url}/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(index.body, '<!doctype html><title>demo</title>');
    const css = await get(`${gateway.url}/style.css`);
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    const js = await get(`${gateway.url}/dist/app.js`);
    assert.equal(js.status, 200);
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.body, 'console.log(1)');
    assert.equal((await get(`${gateway.url}/sub/`)).body, 'sub');
  });

  it('answers HEAD without a body', async () => {
    const head = await get(`${gateway.url}/dist/app.js`, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '14');
    assert.equal(head.body, '');
  });

  it('404s missing files and never leaves the mounted directories', async () => {
    assert.equal((await get(`${gateway.url}/missing.js`)).status, 404);
    assert.equal((await get(`${gateway.url}/%2e%2e/secret.txt`)).status, 404);
    assert.equal((await get(`${gateway.url}/dist/..%2fsecret.txt`)).status, 404);
    assert.equal(resolveStaticPath('/../secret.txt', [{ prefix: '/', dir: join(dir, 'public') }]), undefined);
    assert.equal(
      resolveStaticPath('/dist/%2e%2e/%2e%2e/secret.txt', [{ prefix: '/dist/', dir: join(dir, 'dist') }]),
      undefined,
    );
    assert.equal((await get(`${bare.url}/`)).status, 404);
  });

  it('mints a development token for the user and channel asked for', async () => {
    const res = await get(`${gateway.url}/dev/token?user=42&guild=1&channel=7`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = JSON.parse(res.body);
    assert.equal(decodeProtectedHeader(body.token).kid, issuer.current.kid);
    const jwks = await get(`${gateway.url}/.well-known/jwks.json`);
    assert.equal(jwks.status, 200);
    const verified = await new TokenVerifier({
      keys: jwksFromJson(jwks.body),
      issuer: 'test-issuer',
      audience: 'test-audience',
    }).verify(body.token);
    assert.equal(verified.userId, '42');
    assert.deepEqual(verified.grants, ['1:7']);
    assert.equal(body.expiresAt, verified.expiresAt);
    assert.ok(Math.abs(verified.expiresAt - Date.now() / 1000 - 24 * 60 * 60) < 60);
  });

  it("serves the issuer's public JWKS only (no private members), 503 while the issuer is unavailable", async () => {
    const jwks = JSON.parse((await get(`${gateway.url}/.well-known/jwks.json`)).body) as {
      keys: Record<string, unknown>[];
    };
    assert.deepEqual(
      jwks.keys.map((k) => k.kid),
      [issuer.current.kid],
    );
    assert.ok(jwks.keys.every((k) => k.d === undefined && k.kty === 'OKP' && k.alg === 'EdDSA'));
    issuer.unavailable = true;
    try {
      assert.equal((await get(`${gateway.url}/.well-known/jwks.json`)).status, 503);
    } finally {
      issuer.unavailable = false;
    }
    assert.equal((await get(`${bare.url}/.well-known/jwks.json`)).status, 404);
  });

  it('refuses bad ids and is absent unless enabled', async () => {
    assert.equal((await get(`${gateway.url}/dev/token?user=42&guild=1`)).status, 400);
    assert.equal((await get(`${gateway.url}/dev/token?user=-1&guild=1&channel=7`)).status, 400);
    assert.equal((await get(`${gateway.url}/dev/token?user=18446744073709551616&guild=1&channel=7`)).status, 400);
    assert.equal((await get(`${bare.url}/dev/token?user=42&guild=1&channel=7`)).status, 404);
  });
});

function get(
  url: string,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}
