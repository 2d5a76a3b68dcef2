// resume.v1 promises a session's media outlives its socket for the whole grace, also when the client's
// network changed (no ICE consent from the old address meanwhile). So a resume.v1 session's transports get
// an ICE consent timeout of at least the grace; other sessions keep the node's shorter one (the ghost bound).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MemoryGateway } from '../../functions/adapters/memory-gateway';
import { MemoryStateStore } from '../../functions/adapters/memory-store';
import { TokenGrantPolicy } from '../../functions/auth/policy';
import type { MediaClient, NodeDirectory } from '../../functions/voice/ports';
import { listedNodeDirectory } from '../../functions/adapters/node-directory';
import { VoiceCore } from '../../functions/voice/voice-core';
import { silentLogger } from '../../lib/log';
import { decodeServerFrame, encodeRequest, type ServerFrame } from '../../protocol/hrpc';
import type { MediaNodeRecord } from '../../routing/types';
import type { MediaNodeApi } from '../../media-node/api/client';
import type { MediaNodeHandle } from '../../media-node/src/node/media-node';
import { limitsFrom } from '../../functions/handlers/runtime';
import { iceConsentTimeoutFor } from '../../media-node/src/session/session-media';
import { clientRtpCapabilities, startTestNode } from '../media-node/helpers';
import { nodeRecord } from '../support/node-record';

const NODE: MediaNodeRecord = nodeRecord('n1', {
  grpcAddress: '127.0.0.1:1',
  capacity: 20_000,
  cpu: { workers: [0], avg: 0, max: 0 },
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
});

test("Prepare asks the node to keep a resume.v1 session's media for the resume grace, and nothing more for others", async () => {
  const requested = new Map<string, number | undefined>();
  const transport = { id: 't', iceParameters: '{}', iceCandidates: [], dtlsParameters: '{}' };
  const media = {
    openRoom: async () => ({ rtpCapabilities: JSON.stringify({ codecs: [] }) }),
    createTransports: async (_node: unknown, req: { sessionId: string; minIceConsentTimeoutS?: number }) => {
      requested.set(req.sessionId, req.minIceConsentTimeoutS);
      return { consumerTransport: transport, producerTransport: transport };
    },
  } as unknown as MediaClient;
  const nodes: NodeDirectory = listedNodeDirectory(async () => [{ ...NODE, heartbeatAt: Date.now() }]);
  const gateway = new MemoryGateway();
  const core = new VoiceCore({
    store: new MemoryStateStore(),
    nodes,
    media,
    gateway,
    policy: new TokenGrantPolicy(),
    clock: Date,
    log: silentLogger,
    limits: { resumeGraceMs: 42_500 },
  });
  const frames = new Map<string, ServerFrame[]>();
  for (const [id, resume] of [
    ['plain', false],
    ['resuming', true],
  ] as const) {
    frames.set(id, []);
    gateway.attach(id, (frame) => frames.get(id)!.push(decodeServerFrame(frame)));
    await core.connect(
      id,
      { userId: id === 'plain' ? '1' : '2', grants: ['1:2'] },
      'binary',
      resume ? { resume: true } : {},
    );
    await core.receive(id, encodeRequest({ message: { $case: 'initialize', value: { guildId: 1n, channelId: 2n } } }));
    await core.receive(
      id,
      encodeRequest({
        message: { $case: 'prepareForJoinChannel', value: { rtpCapabilities: JSON.stringify({ codecs: [] }) } },
      }),
    );
  }
  for (const id of ['plain', 'resuming']) {
    const kinds = frames.get(id)!.map((f) => (f.kind === 'error' ? f.error.identifier : f.kind));
    assert.ok(!kinds.some((k) => k.includes('.')), `${id} got no error: ${kinds.join(',')}`);
  }
  assert.deepEqual(
    [...requested],
    [
      ['plain', undefined],
      ['resuming', 43],
    ],
  );
});

let node: MediaNodeHandle;
let api: MediaNodeApi;
let stop: () => Promise<void>;
before(async () => {
  ({ node, api, stop } = await startTestNode({ iceConsentTimeoutS: 15, roomGraceMs: 60_000 }));
});
after(() => stop());

test("the node creates the session's transports with the longer of its own and the asked ICE consent timeout (capped)", async () => {
  await api.openRoom({ roomId: '7:70' });
  const asked = { plain: 0, shorter: 5, resume: 30, absurd: 100_000 };
  for (const [sessionId, minIceConsentTimeoutS] of Object.entries(asked)) {
    await api.createTransports({
      roomId: '7:70',
      sessionId,
      userId: '1',
      rtpCapabilities: clientRtpCapabilities(),
      minIceConsentTimeoutS,
    });
  }
  const room = node.rooms.find('7:70')!;
  const got = Object.fromEntries(
    Object.keys(asked).map((id) => {
      const { consumer, producer } = room.transportsOf(id)!;
      return [id, [consumer.appData.iceConsentTimeoutS, producer.appData.iceConsentTimeoutS]];
    }),
  );
  assert.deepEqual(got, { plain: [15, 15], shorter: [15, 15], resume: [30, 30], absurd: [120, 120] });
});

test('a node with ICE consent off (0) keeps it off whatever is asked', () => {
  assert.equal(iceConsentTimeoutFor(0, 30), 0);
  assert.equal(iceConsentTimeoutFor(15, 30), 30);
});

test('a resume grace longer than the node can keep media for is refused at start-up, with the reason', () => {
  assert.deepEqual(limitsFrom({ VOICE_RESUME_GRACE_MS: '120000' }), { resumeGraceMs: 120_000 });
  assert.throws(
    () => limitsFrom({ VOICE_RESUME_GRACE_MS: '120001' }),
    /config\.bad-limit: VOICE_RESUME_GRACE_MS=120001 is above 120000/,
  );
});
