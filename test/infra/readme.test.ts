// The deploy page (docs/deploy-aws.md) says what the template and the asset do: its list of the worker's Debian runtime packages is the list the host installs
// (tools/mediasoup-worker/runtime-packages.txt, kept true by test/worker/runtime-packages.test.ts), and its host tools
// are the user data's. On main 2cfbf0d the README listed libsrtp2-1, libnss3 and libnspr4, which the worker no longer
// links.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { APT_LOCK_TIMEOUT_SECONDS, HOST_TOOLS, runtimePackages } from '../../infra/media-fleet/user-data';
import { LAUNCH_HOOK_NAME } from '../../infra/media-fleet/launch-hook';
import { repoPath } from '../../infra/paths';

const readme = readFileSync(repoPath('docs/deploy-aws.md'), 'utf8').replace(/\n/g, ' ');

it("the deploy page's runtime package list and host tools are the ones the host installs", () => {
  const listed = /libraries it links \(([^;]+);/
    .exec(readme)?.[1]
    ?.split(',')
    .map((p) => p.trim());
  assert.deepEqual(listed, runtimePackages());
  assert.ok(readme.includes(`host tools \`${HOST_TOOLS.join(' ')}\``), 'the host tools');
  assert.ok(readme.includes(`-o DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT_SECONDS}`), 'the apt lock timeout');
  assert.ok(readme.includes(`\`${LAUNCH_HOOK_NAME}\``), 'the launch hook');
});
