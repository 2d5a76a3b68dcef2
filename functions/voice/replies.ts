// Replies to a client step, sized for API Gateway: one response frame to the stream that sent the step; a post
// that finds the socket gone (410) ends that stream's session (`gone`).
import type { StreamMessageResponse } from '../../gen/protocol/voice/v1/voice';
import { encodeResponseFrame, MAX_MESSAGE_BYTES } from '../../protocol/hrpc';
import { METRIC, type Metrics } from '../../lib/metrics';
import { MAX_USER_CONSUMER_OPTIONS_BYTES } from '../../media-node/api/limits';
import type { ConnectionRecord, Gateway } from './ports';

/**
 * API Gateway accepts at most 128 KB per PostToConnection, and the hrpc1.base64 variant grows bytes by 4/3,
 * so a server message may carry at most 96 KB. maxMembersPerChannel keeps JoinedChannel inside it.
 */
export const MAX_SERVER_MESSAGE_BYTES = Math.floor((MAX_MESSAGE_BYTES * 3) / 4);
/**
 * The most members a channel may have so that JoinedChannel (every other member's UserConsumerOptions, each at
 * most MAX_USER_CONSUMER_OPTIONS_BYTES by construction, plus 64 bytes of framing and the resume.v1 wrapper)
 * always fits MAX_SERVER_MESSAGE_BYTES: 115. The default (100) leaves ~13% of the budget spare.
 */
export const MAX_MEMBERS_THAT_FIT = Math.floor((MAX_SERVER_MESSAGE_BYTES - 64) / MAX_USER_CONSUMER_OPTIONS_BYTES) + 1;

/** Throws when a server frame would not fit one API Gateway message (a bug: the limits keep every frame inside). */
export function assertFits(frame: Uint8Array): void {
  if (frame.length > MAX_SERVER_MESSAGE_BYTES) {
    throw new Error(
      `server message of ${frame.length} bytes exceeds the ${MAX_SERVER_MESSAGE_BYTES}-byte budget of one API Gateway message`,
    );
  }
}

export interface RepliesDeps {
  gateway: Gateway;
  metrics?: Metrics;
  /** The stream's socket is gone (410): its session ends (`gone`). */
  gone(connectionId: string): Promise<void>;
}

export class Replies {
  constructor(private readonly deps: RepliesDeps) {}

  /** Posts `response` to the stream `conn` (its own connection) in its variant. */
  async send(conn: ConnectionRecord, response: StreamMessageResponse): Promise<void> {
    const frame = encodeResponseFrame(response);
    assertFits(frame);
    const result = await this.deps.gateway.send(conn.connectionId, frame, conn.variant);
    if (result === 'gone') {
      this.deps.metrics?.count(METRIC.deliveriesGone);
      await this.deps.gone(conn.connectionId);
    }
  }
}
