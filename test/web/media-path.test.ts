// The SDK's rung of a transport, from a getStats report shaped as Chromium's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mediaPathFromStats } from '../../web/src/media-path';

const report = (stats: Record<string, unknown>[]) => ({
  forEach: (cb: (s: never) => void) => stats.forEach((s) => cb(s as never)),
});

function stats(local: Record<string, unknown>) {
  return report([
    { id: 'T1', type: 'transport', selectedCandidatePairId: 'CP2' },
    { id: 'CP1', type: 'candidate-pair', localCandidateId: 'L0', remoteCandidateId: 'R1' },
    { id: 'CP2', type: 'candidate-pair', localCandidateId: 'L1', remoteCandidateId: 'R1' },
    { id: 'L0', type: 'local-candidate', candidateType: 'host', protocol: 'udp' },
    { id: 'L1', type: 'local-candidate', ...local },
    { id: 'R1', type: 'remote-candidate', candidateType: 'host', protocol: 'tcp', port: 443 },
  ]);
}

test('the selected pair decides: host/prflx over udp or tcp, and relay by its protocol to the TURN server', () => {
  assert.deepEqual(mediaPathFromStats(stats({ candidateType: 'host', protocol: 'tcp' })), {
    rung: 'tcp',
    localCandidateType: 'host',
    protocol: 'tcp',
    remotePort: 443,
  });
  assert.equal(mediaPathFromStats(stats({ candidateType: 'prflx', protocol: 'udp' }))?.rung, 'udp');
  assert.deepEqual(mediaPathFromStats(stats({ candidateType: 'relay', protocol: 'udp', relayProtocol: 'tls' })), {
    rung: 'relay-tls',
    localCandidateType: 'relay',
    protocol: 'udp',
    relayProtocol: 'tls',
    remotePort: 443,
  });
});

test('no selected pair yet: undefined', () => {
  assert.equal(
    mediaPathFromStats(
      report([
        { id: 'T1', type: 'transport' },
        { id: 'L0', type: 'local-candidate', candidateType: 'host', protocol: 'udp' },
      ]),
    ),
    undefined,
  );
});
