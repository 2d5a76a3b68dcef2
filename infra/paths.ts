// Absolute paths inside the repository, independent of the working directory `cdk` runs from.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function repoPath(relative: string): string {
  return resolve(REPO_ROOT, relative);
}
