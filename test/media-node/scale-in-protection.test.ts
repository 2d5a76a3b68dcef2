// Scale-in protection follows the rooms (media-node/src/node/scale-in-protection.ts), with a fake AWS client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SetInstanceProtectionCommand } from '@aws-sdk/client-auto-scaling';
import { silentLogger } from '../../lib/log';
import {
  autoScalingProtection,
  ScaleInProtection,
  type ProtectionClient,
} from '../../media-node/src/node/scale-in-protection';

function fakeClient(failures = 0) {
  const calls: boolean[] = [];
  let left = failures;
  const client: ProtectionClient = {
    async setProtected(protect) {
      if (left-- > 0) throw new Error('Throttling');
      calls.push(protect);
    },
  };
  return { client, calls };
}

test('protected while hosting rooms, cleared when empty or draining; only changes are sent', async () => {
  const { client, calls } = fakeClient();
  const protection = new ScaleInProtection(client, silentLogger);
  await protection.update({ rooms: 0, draining: false }); // at start: cleared explicitly (a restarted node)
  await protection.update({ rooms: 1, draining: false });
  await protection.update({ rooms: 3, draining: false });
  await protection.update({ rooms: 2, draining: true }); // draining: the node is leaving anyway
  await protection.update({ rooms: 0, draining: true });
  assert.deepEqual(calls, [false, true, false]);
  assert.equal(protection.protected, false);
});

test('a failed call is retried at the next update; concurrent updates apply in order', async () => {
  const { client, calls } = fakeClient(1);
  const protection = new ScaleInProtection(client, silentLogger);
  await protection.update({ rooms: 1, draining: false });
  assert.equal(protection.protected, undefined, 'not set after the failure');
  await Promise.all([
    protection.update({ rooms: 1, draining: false }),
    protection.update({ rooms: 0, draining: false }),
  ]);
  assert.deepEqual(calls, [true, false]);
});

test('the AWS client sends SetInstanceProtection for this instance and group', async () => {
  const sent: unknown[] = [];
  const client = autoScalingProtection(
    { instanceId: 'i-0123456789abcdef0', autoScalingGroupName: 'HarmonyVoice-media-nodes' },
    { send: async (command: unknown) => void sent.push(command) } as never,
  );
  await client.setProtected(true);
  assert.ok(sent[0] instanceof SetInstanceProtectionCommand);
  assert.deepEqual((sent[0] as SetInstanceProtectionCommand).input, {
    InstanceIds: ['i-0123456789abcdef0'],
    AutoScalingGroupName: 'HarmonyVoice-media-nodes',
    ProtectedFromScaleIn: true,
  });
});
