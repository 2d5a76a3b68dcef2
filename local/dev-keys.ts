// The local development signing key for session tokens. Generated on first use into .local/
// (git-ignored), so no key is ever a built-in default; deployed stacks use their own key from SSM.
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { privateKeyFromPem, publicKeyFromPem } from '../functions/auth/token';

export const DEV_TOKEN_ISSUER = 'harmony-voice-local';
const KEY_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '../.local/dev-token-key.pem');

export interface DevKeys {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicKeyPem: string;
}

export function loadDevKeys(file = process.env.DEV_TOKEN_KEY_FILE ?? KEY_FILE): DevKeys {
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  }
  const privateKey = privateKeyFromPem(readFileSync(file, 'utf8'));
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string;
  return { privateKey, publicKey: publicKeyFromPem(publicKeyPem), publicKeyPem };
}
