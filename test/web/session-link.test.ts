// The session's link to the server (web/src/session-link.ts) over fake WebSockets: a resume.v1 move to a new socket
// (Resume with the credential and last position, requests held meanwhile, replays deduplicated), and a session that
// ends during a make-before-break move (leave()): the move gives up at once and the old socket, still open, is closed
// with 1000 too — before, the move waited for its 20 s timeout and the old socket stayed open.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServerMessage } from '../../gen/harmonyvoice/ext/v1/session';
import { base64ToBytes, bytesToBase64, decodeClientFrame, encodeExtFrame } from '../../protocol/hrpc';
import type { VoiceClientError } from '../../web/src/errors';
import { type LinkHandler, SessionLink } from '../../web/src/session-link';
import { openHrpcSocket } from './fake-websocket';

const flush = () => new Promise((resolve) => setImmediate(resolve));

async function resumableSocket() {
  const { opening, ws } = openHrpcSocket({ variant: 'base64', resume: true });
  ws().accept('hrpc1.base64+resume.v1');
  return { socket: await opening, ws: ws() };
}

const ext = (message: ServerMessage['message']) => ({ data: bytesToBase64(encodeExtFrame({ message })) });
const credential = { sessionId: 'S1', credential: 'c1', graceMs: 30_000 };

function recordingHandler() {
  const seen: string[] = [];
  const handler: LinkHandler = {
    response: async (r) => void seen.push(`response:${r.message?.$case}`),
    errorFrame: (e) => void seen.push(`error:${e.identifier}`),
    memberStates: () => void seen.push('states'),
    relays: () => void seen.push('relays'),
    resumed: () => void seen.push('resumed'),
    broken: (e) => void seen.push(`broken:${e.identifier}`),
    closed: (c) => void seen.push(`closed:${c.code}`),
  };
  return { seen, handler };
}

const userLeft = (seq: bigint, userId: bigint) =>
  ext({
    $case: 'sequenced',
    value: { seq, message: { message: { $case: 'userLeft', value: { userId } } }, states: [] },
  });

describe('SessionLink', () => {
  it('moves to a new socket: Resume with credential and last seq, held requests follow, replays are deduplicated', async () => {
    const old = await resumableSocket();
    const { seen, handler } = recordingHandler();
    const link = new SessionLink(old.socket, false, handler);
    old.ws.onmessage?.(ext({ $case: 'credential', value: credential }));
    old.ws.onmessage?.(userLeft(1n, 7n));
    await flush();
    assert.equal(link.canResume, true);
    assert.equal(link.graceMs, 30_000);

    const next = await resumableSocket();
    const moving = link.moveTo(next.socket, false, 20_000);
    assert.equal(link.moving, true);
    link.send({ message: { $case: 'resumeConsumer', value: { consumerId: 'c9' } } });
    const resume = decodeClientFrame(base64ToBytes(next.ws.sent[0] as string), true);
    assert.deepEqual(resume, {
      kind: 'ext',
      message: {
        message: { $case: 'resume', value: { sessionId: 'S1', credential: 'c1', lastSeq: 1n, restartIce: false } },
      },
    });
    assert.equal(next.ws.sent.length, 1, 'the request waits for the socket the move settles on');
    next.ws.onmessage?.(
      ext({ $case: 'resumed', value: { credential: { ...credential, credential: 'c2' }, ice: undefined } }),
    );
    next.ws.onmessage?.(userLeft(1n, 7n)); // a replay of what the old socket already delivered
    next.ws.onmessage?.(userLeft(2n, 8n));
    assert.equal(await moving, undefined);
    link.finishMove();
    await flush();
    assert.equal(next.ws.sent.length, 2, 'the held request went out on the new socket');
    assert.deepEqual(old.ws.closedWith, { code: 1000, reason: 'resumed elsewhere' });
    assert.deepEqual(seen, ['response:userLeft', 'resumed', 'response:userLeft']);
  });

  it('a session that ends during a make-before-break move: the move gives up now and both sockets close with 1000', async () => {
    const old = await resumableSocket();
    const { seen, handler } = recordingHandler();
    const link = new SessionLink(old.socket, false, handler);
    old.ws.onmessage?.(ext({ $case: 'credential', value: credential }));
    await flush();
    const next = await resumableSocket();
    const moving = link.moveTo(next.socket, false, 20_000);
    // leave(): the session closes the socket carrying it (the new one) and stops its link.
    void link.close(1000, 'leave');
    link.stop();
    await assert.rejects(moving, (err: VoiceClientError) => err.identifier === 'client.invalid-state');
    assert.deepEqual(next.ws.closedWith, { code: 1000, reason: 'leave' });
    assert.deepEqual(old.ws.closedWith, { code: 1000, reason: 'leave' }, 'the old socket, still open, is left too');
    assert.deepEqual(seen, ['closed:1000']);
  });
});
