// Parameters are built by the node, never passed through: the allow-lists of
// media-node/src/session/validate.ts, and the bound of what a consumer's receiver is handed (consumer-parameters.ts)
// measured on a real mediasoup router with the worst case a client may send — the arithmetic docs/media-node.md states.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { MAX_CONSUMER_RTP_PARAMETERS_BYTES, MAX_USER_CONSUMER_OPTIONS_BYTES } from '../../media-node/api/limits';
import { MediaError } from '../../media-node/api/errors';
import { ROOM_MEDIA_CODECS } from '../../media-node/src/workers/codecs';
import { consumerParametersJson } from '../../media-node/src/session/consumer-parameters';
import {
  AUDIO_HEADER_EXTENSIONS,
  OPUS_FMTP,
  parseDtlsParameters,
  parseProducerRtpParameters,
  parseRtpCapabilities,
  RECEIVABLE_HEADER_EXTENSIONS,
} from '../../media-node/src/session/validate';
import { MAX_MEMBERS_THAT_FIT, MAX_SERVER_MESSAGE_BYTES } from '../../functions/voice/voice-core';
import { encodeExtFrame } from '../../protocol/hrpc';
import { clientRtpCapabilities, dtlsParameters, producerRtpParameters } from '../support/client-params';

const reason = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof MediaError, String(error));
    return error.reason;
  }
};

/** The largest producer parameters the node accepts: every fmtp key at its widest, every header extension, the longest mid. */
function worstProducer(): string {
  return JSON.stringify({
    mid: 'm'.repeat(16),
    codecs: [
      {
        mimeType: 'audio/opus',
        payloadType: 127,
        clockRate: 48000,
        channels: 2,
        parameters: Object.fromEntries(Object.entries(OPUS_FMTP).map(([k, [, max]]) => [k, max])),
        rtcpFeedback: [
          { type: 'nack', parameter: '' },
          { type: 'transport-cc', parameter: '' },
        ],
      },
    ],
    headerExtensions: [...AUDIO_HEADER_EXTENSIONS].map((uri, i) => ({
      uri,
      id: 200 + i,
      encrypt: false,
      parameters: {},
    })),
    encodings: [{ ssrc: 0xffffffff, dtx: true }],
    rtcp: { cname: 'c'.repeat(64), reducedSize: true },
    msid: 'stream track',
  });
}

/** The largest receiver capabilities that reach its consumers: two Opus codecs, all receivable extensions, junk around them. */
function worstCapabilities(): string {
  const opus = {
    kind: 'audio',
    mimeType: 'audio/opus',
    preferredPayloadType: 100,
    clockRate: 48000,
    channels: 2,
    parameters: Object.fromEntries(Object.entries(OPUS_FMTP).map(([k, [, max]]) => [k, max])),
    rtcpFeedback: [
      { type: 'nack' },
      { type: 'transport-cc' },
      { type: 'nack' },
      { type: 'x-junk', parameter: 'j'.repeat(100) },
    ],
  };
  return JSON.stringify({
    codecs: [
      opus,
      { ...opus, preferredPayloadType: 111 },
      ...Array.from({ length: 30 }, (_, i) => ({
        kind: 'video',
        mimeType: `video/X${i}`,
        clockRate: 90000,
        preferredPayloadType: 96,
        parameters: { junk: 'j'.repeat(100) },
      })),
    ],
    headerExtensions: [
      ...[...AUDIO_HEADER_EXTENSIONS].map((uri, i) => ({
        kind: 'audio',
        uri,
        preferredId: [1, 6, 4, 5, 10, 11, 12][i] ?? 13,
        preferredEncrypt: false,
        direction: 'sendrecv',
      })),
      ...Array.from({ length: 10 }, (_, i) => ({
        kind: 'video',
        uri: `urn:junk:${i}`,
        preferredId: 14,
        direction: 'sendrecv',
      })),
    ],
  });
}

describe("what the node builds from a client's parameters", () => {
  it('producer: one Opus codec with allow-listed numeric fmtp, one encoding, a cname of its own, no msid', () => {
    const built = parseProducerRtpParameters(
      JSON.stringify({
        ...JSON.parse(producerRtpParameters(1234)),
        msid: 'client-stream client-track',
        rtcp: { cname: 'client-cname', reducedSize: true },
      }),
    );
    assert.equal(built.codecs.length, 1);
    assert.deepEqual(built.codecs[0]!.parameters, { minptime: 10, useinbandfec: 1 });
    assert.deepEqual(built.encodings, [{ ssrc: 1234, dtx: false }]);
    assert.notEqual(built.rtcp?.cname, 'client-cname');
    assert.equal(built.msid, undefined);
    // Idempotent on its own output (a far node's PartHost builds again from what the home node sends).
    assert.equal(
      reason(() => parseProducerRtpParameters(JSON.stringify(built))),
      undefined,
    );
  });

  it('producer: anything outside the allow-lists is bad-rtp-parameters', () => {
    const base = JSON.parse(producerRtpParameters(99)) as Record<string, any>;
    const variant = (change: (p: Record<string, any>) => void) => {
      const p = structuredClone(base);
      change(p);
      return JSON.stringify(p);
    };
    const cases: [string, string][] = [
      [
        'junk fmtp key',
        variant((p) => {
          p.codecs[0].parameters['x-junk'] = 1;
        }),
      ],
      [
        'fmtp value out of range',
        variant((p) => {
          p.codecs[0].parameters.maxaveragebitrate = 10_000_000;
        }),
      ],
      [
        'fmtp value not a number',
        variant((p) => {
          p.codecs[0].parameters.useinbandfec = 'yes';
        }),
      ],
      [
        'fmtp fraction',
        variant((p) => {
          p.codecs[0].parameters.ptime = 20.000000001;
        }),
      ],
      [
        'two codecs',
        variant((p) => {
          p.codecs.push(p.codecs[0]);
        }),
      ],
      [
        'not Opus',
        variant((p) => {
          p.codecs[0].mimeType = 'audio/PCMU';
        }),
      ],
      [
        'static payload type',
        variant((p) => {
          p.codecs[0].payloadType = 0;
        }),
      ],
      [
        'odd feedback',
        variant((p) => {
          p.codecs[0].rtcpFeedback = [{ type: 'goog-remb', parameter: '' }];
        }),
      ],
      [
        'unknown codec field',
        variant((p) => {
          p.codecs[0].padding = 'x';
        }),
      ],
      [
        'two encodings',
        variant((p) => {
          p.encodings.push({ ssrc: 7 });
        }),
      ],
      [
        'no encoding',
        variant((p) => {
          p.encodings = [];
        }),
      ],
      [
        'ssrc 0',
        variant((p) => {
          p.encodings[0].ssrc = 0;
        }),
      ],
      [
        'ssrc past 2^32',
        variant((p) => {
          p.encodings[0].ssrc = 2 ** 32;
        }),
      ],
      [
        'ssrc as a string',
        variant((p) => {
          p.encodings[0].ssrc = '5';
        }),
      ],
      [
        'dtx not boolean',
        variant((p) => {
          p.encodings[0].dtx = 'on';
        }),
      ],
      [
        'encoding extras',
        variant((p) => {
          p.encodings[0].scalabilityMode = 'L1T3';
        }),
      ],
      [
        'unknown header extension',
        variant((p) => {
          p.headerExtensions.push({ uri: 'urn:junk', id: 9 });
        }),
      ],
      [
        'header extension id 0',
        variant((p) => {
          p.headerExtensions[0].id = 0;
        }),
      ],
      [
        'header extension id twice',
        variant((p) => {
          p.headerExtensions[1].id = p.headerExtensions[0].id;
        }),
      ],
      [
        'header extension parameters',
        variant((p) => {
          p.headerExtensions[0].parameters = { a: 1 };
        }),
      ],
      [
        'long cname',
        variant((p) => {
          p.rtcp.cname = 'c'.repeat(65);
        }),
      ],
      [
        'odd mid',
        variant((p) => {
          p.mid = 'mid with spaces';
        }),
      ],
      [
        'unknown top-level field',
        variant((p) => {
          p.padding = 'x';
        }),
      ],
      [
        'over 4 KB',
        variant((p) => {
          p.mid = '0';
          p.rtcp.cname = 'c';
          p.codecs[0].parameters = {};
          p.headerExtensions = Array(200).fill(p.headerExtensions[0]);
        }),
      ],
      ['not JSON', 'nope'],
      ['an array', '[]'],
    ];
    for (const [name, json] of cases)
      assert.equal(
        reason(() => parseProducerRtpParameters(json)),
        'bad-rtp-parameters',
        name,
      );
  });

  it('capabilities: bounded, and rebuilt to their Opus codecs and receivable audio header extensions', () => {
    const built = parseRtpCapabilities(worstCapabilities());
    assert.deepEqual(
      built.codecs!.map((c) => c.mimeType),
      ['audio/opus', 'audio/opus'],
    );
    assert.deepEqual(built.codecs![0]!.rtcpFeedback, [
      { type: 'nack', parameter: '' },
      { type: 'transport-cc', parameter: '' },
    ]);
    assert.ok(built.headerExtensions!.every((e) => RECEIVABLE_HEADER_EXTENSIONS.has(e.uri)));
    assert.ok(!JSON.stringify(built).includes('junk'));
    const caps = JSON.parse(clientRtpCapabilities()) as Record<string, any>;
    const variant = (change: (c: Record<string, any>) => void) => {
      const c = structuredClone(caps);
      change(c);
      return JSON.stringify(c);
    };
    const cases: [string, string][] = [
      [
        'no Opus',
        variant((c) => {
          c.codecs = [{ kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, preferredPayloadType: 0 }];
        }),
      ],
      [
        'too many codecs',
        variant((c) => {
          c.codecs = Array(65).fill(c.codecs[0]);
        }),
      ],
      [
        'too many header extensions',
        variant((c) => {
          c.headerExtensions = Array(33).fill(c.headerExtensions[0]);
        }),
      ],
      [
        'over 16 KB',
        variant((c) => {
          c.codecs.push({
            kind: 'video',
            mimeType: 'video/X',
            clockRate: 90000,
            parameters: { pad: 'p'.repeat(17_000) },
          });
        }),
      ],
      [
        'padded feedback list',
        variant((c) => {
          c.codecs[0].rtcpFeedback = Array(9).fill({ type: 'nack' });
        }),
      ],
      [
        'feedback without a type',
        variant((c) => {
          c.codecs[0].rtcpFeedback = [{ parameter: 'x' }];
        }),
      ],
      [
        'codec without mimeType',
        variant((c) => {
          c.codecs.push({ clockRate: 1 });
        }),
      ],
    ];
    for (const [name, json] of cases)
      assert.equal(
        reason(() => parseRtpCapabilities(json)),
        'bad-rtp-capabilities',
        name,
      );
    // Within the bounds, what a receiver cannot use is dropped, never passed on.
    const odd = parseRtpCapabilities(
      variant((c) => {
        c.codecs[0].parameters = { 'x-pad': 'p'.repeat(1000), useinbandfec: 1, stereo: 'loud', maxplaybackrate: 1e9 };
        c.codecs[0].rtcpFeedback = [
          { type: 'nack', parameter: 'p'.repeat(100) },
          { type: 'x-junk' },
          { type: 'transport-cc' },
        ];
      }),
    );
    assert.deepEqual(odd.codecs![0]!.parameters, { useinbandfec: 1 });
    assert.deepEqual(odd.codecs![0]!.rtcpFeedback, [{ type: 'transport-cc', parameter: '' }]);
  });

  it('DTLS: a role, one to three fingerprints of allow-listed algorithms with hex digests of their length, nothing else', () => {
    const good = JSON.parse(dtlsParameters()) as { role: string; fingerprints: { algorithm: string; value: string }[] };
    assert.deepEqual(parseDtlsParameters(JSON.stringify(good), 'x'), good);
    const fp = good.fingerprints[0]!;
    const cases: [string, unknown][] = [
      ['no fingerprints', { role: 'client', fingerprints: [] }],
      ['four fingerprints', { role: 'client', fingerprints: [fp, fp, fp, fp] }],
      ['md5', { role: 'client', fingerprints: [{ algorithm: 'md5', value: 'AA:BB' }] }],
      ['digest of the wrong length', { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: 'AA:BB' }] }],
      ['not hex', { role: 'client', fingerprints: [{ algorithm: 'sha-1', value: Array(20).fill('ZZ').join(':') }] }],
      ['odd role', { role: 'boss', fingerprints: [fp] }],
      ['extra field', { role: 'client', fingerprints: [fp], padding: 'x' }],
      ['extra fingerprint field', { role: 'client', fingerprints: [{ ...fp, note: 'x' }] }],
    ];
    for (const [name, value] of cases)
      assert.equal(
        reason(() => parseDtlsParameters(JSON.stringify(value), 'x')),
        'bad-dtls-parameters',
        name,
      );
    assert.equal(
      reason(() =>
        parseDtlsParameters(JSON.stringify({ ...good, fingerprints: [fp, fp, fp] }) + ' '.repeat(2048), 'x'),
      ),
      'bad-dtls-parameters',
      'over 2 KB',
    );
  });
});

describe('what a receiver is handed is bounded by construction (real router)', () => {
  let worker: types.Worker;
  before(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
  });
  after(() => worker?.close());

  it('the worst case a client may send gives consumer parameters under the bound, and 99 of them fit one server message', async () => {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const listenInfos: types.TransportListenInfo[] = [{ protocol: 'udp', ip: '127.0.0.1' }];
    const sending = await router.createWebRtcTransport({ listenInfos });
    const receiving = await router.createWebRtcTransport({ listenInfos });
    const producer = await sending.produce({
      kind: 'audio',
      rtpParameters: parseProducerRtpParameters(worstProducer()),
    });
    const caps = parseRtpCapabilities(worstCapabilities());
    let longest = 0;
    for (let i = 0; i < 120; i++) {
      // (mids grow with each consumer of the transport: consume many to reach the longest.)
      const consumer = await receiving.consume({ producerId: producer.id, rtpCapabilities: caps, paused: true });
      longest = Math.max(longest, consumerParametersJson(consumer.rtpParameters).length);
    }
    const json = consumerParametersJson(
      (await receiving.consume({ producerId: producer.id, rtpCapabilities: caps, paused: true })).rtpParameters,
    );
    console.log(
      `# worst-case consumer parameters: ${longest} bytes (bound ${MAX_CONSUMER_RTP_PARAMETERS_BYTES}); UserConsumerOptions at most ${MAX_USER_CONSUMER_OPTIONS_BYTES} bytes; ${MAX_MEMBERS_THAT_FIT} members fit`,
    );
    assert.ok(longest <= MAX_CONSUMER_RTP_PARAMETERS_BYTES, `${longest} <= ${MAX_CONSUMER_RTP_PARAMETERS_BYTES}`);
    const parsed = JSON.parse(json) as { codecs: { parameters: Record<string, number> }[]; rtcp: { cname: string } };
    assert.equal(
      parsed.codecs[0]!.parameters.maxaveragebitrate,
      510000,
      "the producer's (allow-listed) fmtp reach its consumers",
    );
    assert.ok(!json.includes('c'.repeat(64)), "the client's cname does not");

    // JoinedChannel of the 100th member (99 others), resume.v1 wrapper included, with the longest ids.
    const otherUsers = Array.from({ length: 99 }, () => ({
      userId: 2n ** 64n - 1n,
      producerId: crypto.randomUUID(),
      consumerId: crypto.randomUUID(),
      rtpParameters: json.padEnd(MAX_CONSUMER_RTP_PARAMETERS_BYTES),
    }));
    const frame = encodeExtFrame({
      message: {
        $case: 'sequenced',
        value: { seq: 2n ** 32n, message: { message: { $case: 'joinedChannel', value: { otherUsers } } }, states: [] },
      },
    });
    console.log(
      `# JoinedChannel with 99 others at the bound: ${frame.length} bytes of ${MAX_SERVER_MESSAGE_BYTES} (${((frame.length / MAX_SERVER_MESSAGE_BYTES) * 100).toFixed(1)} %)`,
    );
    assert.ok(frame.length <= 99 * MAX_USER_CONSUMER_OPTIONS_BYTES + 64, 'the per-consumer arithmetic holds');
    assert.ok(frame.length < MAX_SERVER_MESSAGE_BYTES * 0.9, 'with a margin of at least 10 %');
    assert.ok(MAX_MEMBERS_THAT_FIT >= 100, 'the default VOICE_MAX_MEMBERS fits');
  });
});

describe('VOICE_MAX_MEMBERS', () => {
  it('is refused above what one JoinedChannel can carry', async () => {
    const { limitsFrom } = await import('../../functions/handlers/runtime');
    assert.deepEqual(limitsFrom({ VOICE_MAX_MEMBERS: String(MAX_MEMBERS_THAT_FIT) }), {
      maxMembersPerChannel: MAX_MEMBERS_THAT_FIT,
    });
    assert.throws(
      () => limitsFrom({ VOICE_MAX_MEMBERS: String(MAX_MEMBERS_THAT_FIT + 1) }),
      /config\.bad-limit: VOICE_MAX_MEMBERS=116 is above 115/,
    );
  });
});
