// One-token floods against the voice service: connects, open streams, joins, replacements and
// prepares, each driven through the real front door. Used by test/signalling/user-limits.test.ts; written to be
// reused as attack modules (bench:abuse) — each returns what the service answered, never asserts.
import { Error as HrpcError, RetryInfo } from '../../gen/hrpc/v1/hrpc';
import { clientRtpCapabilities } from './client-params';
import { initialize, joinedClient, sendJoin } from './stack-flow';
import { VoiceTestClient, type ClientOptions } from './voice-client';

/** A refused upgrade, decoded: HTTP status and the hrpc.v1.Error body with its RetryInfo. */
export interface Refusal {
  statusCode: number;
  identifier: string;
  humanMessage: string;
  retryAfterSeconds?: number;
}

export type ConnectOutcome = { accepted: VoiceTestClient } | { refused: Refusal };

/** Opens a stream; a refused upgrade is returned (decoded), not thrown. */
export async function tryConnect(options: ClientOptions): Promise<ConnectOutcome> {
  try {
    return { accepted: await VoiceTestClient.connect(options) };
  } catch (err) {
    const { statusCode, body } = err as { statusCode?: number; body?: Buffer };
    if (statusCode === undefined || body === undefined) throw err;
    const error = HrpcError.decode(body);
    return {
      refused: {
        statusCode,
        identifier: error.identifier,
        humanMessage: error.humanMessage,
        ...(error.details.length > 0 ? { retryAfterSeconds: RetryInfo.decode(error.details).retryAfter } : {}),
      },
    };
  }
}

/** `count` connects one after the other, each closed (and its close seen) before the next: the connect rate alone. */
export async function connectFlood(options: ClientOptions, count: number): Promise<ConnectOutcome[]> {
  const outcomes: ConnectOutcome[] = [];
  for (let i = 0; i < count; i++) {
    const outcome = await tryConnect(options);
    if ('accepted' in outcome) {
      outcome.accepted.close();
      await outcome.accepted.waitClosed(10_000);
    }
    outcomes.push(outcome);
  }
  return outcomes;
}

/** `count` connects held open: the open streams of one token. The caller closes the accepted ones. */
export async function streamFlood(options: ClientOptions, count: number): Promise<ConnectOutcome[]> {
  const outcomes: ConnectOutcome[] = [];
  for (let i = 0; i < count; i++) outcomes.push(await tryConnect(options));
  return outcomes;
}

/** The next frame of a client, which should be an error frame: its identifier and RetryInfo (or what came instead). */
export async function nextErrorFrame(
  client: VoiceTestClient,
  timeoutMs = 10_000,
): Promise<{ identifier: string; humanMessage: string; retryAfterSeconds?: number } | { unexpected: string }> {
  const frame = await client.next(timeoutMs);
  if (frame.kind !== 'error')
    return { unexpected: frame.kind === 'response' ? `response ${frame.response.message?.$case}` : 'extension frame' };
  return {
    identifier: frame.error.identifier,
    humanMessage: frame.error.humanMessage,
    retryAfterSeconds: frame.retryAfterSeconds,
  };
}

/** Connect + Initialize, then PrepareForJoinChannel sent: the caller reads the answer (PreparedForJoinChannel or an error). */
export async function initializedAndPrepareSent(
  options: ClientOptions,
  guildId: bigint,
  channelId: bigint,
): Promise<VoiceTestClient> {
  const client = await VoiceTestClient.connect(options);
  await initialize(client, guildId, channelId);
  client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities: clientRtpCapabilities() } });
  return client;
}

/**
 * Join/leave churn of one token into a channel: `cycles` times connect, join, close (waiting until `settled()`
 * says the channel has seen the leave). Stops at the first refusal (a client whose JoinChannel was refused is
 * returned open, for the caller to inspect).
 */
export async function joinLeaveFlood(
  options: ClientOptions,
  guildId: bigint,
  channelId: bigint,
  cycles: number,
  settled: (cycle: number) => Promise<void>,
): Promise<{
  joined: number;
  refused?: { client: VoiceTestClient; error: Awaited<ReturnType<typeof nextErrorFrame>> };
}> {
  for (let cycle = 0; cycle < cycles; cycle++) {
    const attempt = await joinOrRefusal(options, guildId, channelId);
    if ('refused' in attempt) return { joined: cycle, refused: attempt.refused };
    attempt.client.close();
    await attempt.client.waitClosed(10_000);
    await settled(cycle);
  }
  return { joined: cycles };
}

/**
 * Replacement churn: each new stream of the same token joins the same channel and takes the seat of the previous
 * one (which the server closes). Stops at the first refusal; returns the stream holding the seat and the refused one.
 */
export async function replaceFlood(
  options: ClientOptions,
  guildId: bigint,
  channelId: bigint,
  replacements: number,
): Promise<{
  replaced: number;
  seated: VoiceTestClient;
  refused?: { client: VoiceTestClient; error: Awaited<ReturnType<typeof nextErrorFrame>> };
}> {
  let seated = (await joinedClient(options, guildId, channelId)).client;
  for (let i = 0; i < replacements; i++) {
    const attempt = await joinOrRefusal(options, guildId, channelId);
    if ('refused' in attempt) return { replaced: i, seated, refused: attempt.refused };
    await seated.waitClosed(10_000); // replaced: told and closed by the server
    seated = attempt.client;
  }
  return { replaced: replacements, seated };
}

async function joinOrRefusal(
  options: ClientOptions,
  guildId: bigint,
  channelId: bigint,
): Promise<
  | { client: VoiceTestClient }
  | { refused: { client: VoiceTestClient; error: Awaited<ReturnType<typeof nextErrorFrame>> } }
> {
  const client = await initializedAndPrepareSent(options, guildId, channelId);
  await client.expect('preparedForJoinChannel');
  sendJoin(client);
  for (;;) {
    const frame = await client.next(10_000);
    if (frame.kind === 'response' && frame.response.message?.$case === 'joinedChannel') return { client };
    if (frame.kind === 'response' && frame.response.message?.$case === 'userJoined') continue;
    if (frame.kind === 'ext') continue;
    if (frame.kind === 'error') {
      return {
        refused: {
          client,
          error: {
            identifier: frame.error.identifier,
            humanMessage: frame.error.humanMessage,
            retryAfterSeconds: frame.retryAfterSeconds,
          },
        },
      };
    }
    throw new Error(`unexpected frame while joining: ${frame.response.message?.$case}`);
  }
}

/** Waits until at least `marginMs` remain in the current calendar minute (the per-minute counters' window). */
export async function clearOfMinuteEdge(marginMs: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < marginMs) await new Promise((r) => setTimeout(r, left + 50));
}
