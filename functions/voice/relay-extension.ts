// relay.v1 (proto/harmonyvoice/ext/v1/relay.proto, docs/reachability.md): TURN relays with short-lived
// credentials (relay-credentials.ts) for a stream that asked for them in the one negotiation and was granted them
// (extension-negotiation.ts grants `relay.v1` only when this deployment has relays configured).
//   - right after Welcome the stream gets RelayServers, issued for the stream's own user (from the verified token);
//   - RefreshRelays on such a stream is answered with fresh ones (the SDK asks before `refresh_in_s` passes);
//   - a resume.v1 session that moves to a new stream gets them with that stream's own Welcome.
// Nothing is stored (the relay recomputes the HMAC); nothing goes to a stream that was not granted relay.v1, so
// a stock voice.v1 client stays byte-exact. Credentials are never logged. A request costs one HMAC and one post to
// the asking stream itself (the per-connection message rate limit bounds it). No AWS, gRPC or WebSocket knowledge.
import { ErrorId, VoiceError } from '../../protocol/errors';
import { FEATURE } from '../../protocol/extensions';
import { encodeExtFrame, type Variant } from '../../protocol/hrpc';
import type { Logger } from '../../lib/log';
import { issueRelayCredentials, validateRelayConfig, type RelayConfig } from './relay-credentials';
import type { Clock, ConnectionRecord, Gateway } from './ports';

export interface RelayExtensionDeps {
  gateway: Gateway;
  clock: Clock;
  log: Logger;
  /** The relays and their shared secret (a getter: the secret may be rotated under a warm container); none = not served. */
  relays?: RelayConfig | (() => RelayConfig);
}

export class RelayExtension {
  constructor(private readonly deps: RelayExtensionDeps) {
    const config = this.config();
    if (config) validateRelayConfig(config);
  }

  /** Whether relay.v1 can be granted here: relays are configured. */
  get available(): boolean {
    return this.deps.relays !== undefined;
  }

  /** Sends fresh RelayServers to `socket`, the stream of `stream` (granted relay.v1), for its user. */
  async deliver(
    stream: Pick<ConnectionRecord, 'connectionId' | 'userId' | 'features'>,
    socket: string,
    variant: Variant,
  ): Promise<void> {
    if (!stream.features?.includes(FEATURE.relay)) {
      throw new VoiceError(ErrorId.badStreamingRequest, 'this stream was not granted relay.v1 (ask for it in Hello)');
    }
    const config = this.config();
    if (!config) throw new VoiceError(ErrorId.badStreamingRequest, 'this server has no relays');
    const nowS = this.deps.clock.now() / 1000;
    const issued = issueRelayCredentials(config, BigInt(stream.userId), nowS);
    const frame = encodeExtFrame({
      message: {
        $case: 'relays',
        value: {
          servers: [{ urls: issued.urls, username: issued.username, credential: issued.credential }],
          expiresInS: issued.expiresAtSeconds - Math.floor(nowS),
          refreshInS: issued.refreshAtSeconds - Math.floor(nowS),
        },
      },
    });
    // A stream gone meanwhile changes nothing: $disconnect or its deadline ends it.
    await this.deps.gateway.send(socket, frame, variant);
    this.deps.log.info('voice.relays-issued', {
      connectionId: socket,
      userId: stream.userId,
      expiresAtSeconds: issued.expiresAtSeconds,
      relays: issued.urls.length,
    });
  }

  private config(): RelayConfig | undefined {
    const relays = this.deps.relays;
    return typeof relays === 'function' ? relays() : relays;
  }
}
