// Helpers for tests of a local stack with several media nodes (test/local/multi-node.test.ts, span-stack.test.ts).
import assert from 'node:assert/strict';
import type { LocalStack } from '../../local/stack';
import type { MediaJoined } from './media-voice-client';

/** Polls `probe` until it returns a value (bounded: a liveness wait, not a timing assertion). */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The stack's node (index) whose WebRtcServer ports are in the session's ICE candidates: where its media is. */
export function nodeOf(stack: LocalStack, m: MediaJoined): number {
  return placeOf(stack, m).node;
}

/** The node (index) and its worker (index) whose WebRtcServer ports are in the session's ICE candidates. */
export function placeOf(stack: LocalStack, m: MediaJoined): { node: number; worker: number } {
  const ports = m.prepared.producerTransportOptions!.iceCandidates.map((c) => (JSON.parse(c) as { port: number }).port);
  const found = stack.mediaNodes.flatMap((node) =>
    (node.ready.workers as { index: number; udp: number[]; tcp: number[] }[])
      .filter((w) => [...w.udp, ...w.tcp].some((p) => ports.includes(p)))
      .map((w) => ({ node: node.index, worker: w.index })),
  );
  assert.equal(found.length, 1, `ICE ports ${ports} belong to exactly one worker of one node`);
  return found[0]!;
}

/** Speaks until the listener has received `atLeast` more packets from the speaker than `from`; returns how many. */
export async function hears(
  speaker: MediaJoined,
  speakerId: bigint,
  listener: MediaJoined,
  atLeast = 10,
  from = listener.received.get(String(speakerId)) ?? 0,
) {
  await eventually(`user ${speakerId}'s RTP to arrive`, async () => {
    await speaker.speakPackets(5);
    return (listener.received.get(String(speakerId)) ?? 0) >= from + atLeast ? true : undefined;
  });
  return listener.received.get(String(speakerId))! - from;
}
