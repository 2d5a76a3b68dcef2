// The one negotiation mechanism of harmony-voice's extensions (VOICE-PROTOCOL.md §5, protocol/extensions.ts,
// proto/harmonyvoice/ext/v1/negotiation.proto). A stream that selected `hrpc1[.base64]+ext.v1` may send, as its
// first message, Hello{features}; the server grants the subset it supports (one conditional write on the
// stream's record: `connected`@version, so a Hello racing another first message changes nothing) and answers
// Welcome{granted}. A granted feature turns on exactly what its older opt-in turned on:
//   resume.v1     → `resume` (the record flag `+resume.v1` streams get at $connect)
//   consumers.v1  → `consumersResumed` (the session's consumers are created resumed on the node: no ResumeConsumer)
//   relay.v1      → (the granted list only) granted when relays are configured; RelayServers follow Welcome (relay-extension.ts)
//   state.v1      → `voiceState` (member-state.ts)
// Nothing of this ever reaches a stream that did not select `+ext.v1`: stock voice.v1 stays byte-exact.
// Pure protocol logic over the ports: no AWS, gRPC or WebSocket knowledge.
import type { Hello } from '../../gen/harmonyvoice/ext/v1/negotiation';
import { ErrorId, VoiceError } from '../../protocol/errors';
import {
  FEATURE,
  grantFeatures,
  MAX_FEATURE_NAME_BYTES,
  MAX_HELLO_FEATURES,
  type Feature,
} from '../../protocol/extensions';
import { encodeExtFrame } from '../../protocol/hrpc';
import type { Logger } from '../../lib/log';
import { ConflictError, type ConnectionRecord, type Gateway, type StateStore } from './ports';
import { allows, outOfOrder, STEPS } from './protocol-table';
import type { RelayExtension } from './relay-extension';

export interface ExtensionNegotiationDeps {
  store: Pick<StateStore, 'transition'>;
  gateway: Gateway;
  log: Logger;
  /** The features this deployment grants (default: SERVED_FEATURES). */
  enabled?: readonly Feature[];
  /** relay.v1: granted only when this has relays configured. */
  relays?: RelayExtension;
}

/**
 * What this server grants by default: a known name (protocol/extensions.ts) is listed here only once the whole path
 * serves it (consumers.v1: the media node creates the session's consumers resumed, CreateTransports consumers_resumed;
 * relay.v1: only where relays are configured, see ExtensionNegotiationDeps.relays; state.v1: member-state.ts).
 */
export const SERVED_FEATURES: readonly Feature[] = [FEATURE.resume, FEATURE.consumers, FEATURE.relay, FEATURE.state];

/** What each granted feature sets on the stream's record (one place: a new extension adds one line). */
const RECORD_FLAGS: Record<Feature, Partial<ConnectionRecord>> = {
  [FEATURE.resume]: { resume: true },
  [FEATURE.consumers]: { consumersResumed: true },
  [FEATURE.relay]: {},
  [FEATURE.state]: { voiceState: true },
};

export class ExtensionNegotiation {
  constructor(private readonly deps: ExtensionNegotiationDeps) {}

  /** Hello → Welcome. Throws a VoiceError (nothing changed) for a Hello that is not allowed here. */
  async hello(stream: ConnectionRecord, hello: Hello): Promise<ConnectionRecord> {
    if (!stream.ext)
      throw new VoiceError(
        ErrorId.badStreamingRequest,
        'this stream did not select the hrpc1+ext.v1 / hrpc1.base64+ext.v1 subprotocol',
      );
    if (!allows(STEPS.hello, stream.state) || stream.features !== undefined)
      throw outOfOrder(STEPS.hello, stream.state);
    if (
      hello.features.length > MAX_HELLO_FEATURES ||
      hello.features.some((f) => new TextEncoder().encode(f).length > MAX_FEATURE_NAME_BYTES)
    ) {
      throw new VoiceError(
        ErrorId.badStreamingRequest,
        `Hello asks for more than ${MAX_HELLO_FEATURES} features or names one longer than ${MAX_FEATURE_NAME_BYTES} bytes`,
      );
    }
    const served = (this.deps.enabled ?? SERVED_FEATURES).filter(
      (f) => f !== FEATURE.relay || this.deps.relays?.available === true,
    );
    const granted = grantFeatures(hello.features, served);
    let next: ConnectionRecord;
    try {
      next = await this.deps.store.transition(stream, {
        state: 'connected',
        deadline: stream.deadline,
        features: granted,
        ...Object.assign({}, ...granted.map((f) => RECORD_FLAGS[f])),
      });
    } catch (err) {
      if (err instanceof ConflictError)
        throw new VoiceError(
          ErrorId.outOfOrder,
          'another message of this stream is being handled; Hello must come first, alone',
        );
      throw err;
    }
    this.deps.log.info('voice.extensions-granted', {
      connectionId: stream.connectionId,
      userId: stream.userId,
      features: granted,
    });
    // A Welcome that finds the socket gone changes nothing more: $disconnect or the stream's deadline ends it.
    await this.deps.gateway.send(
      stream.connectionId,
      encodeExtFrame({ message: { $case: 'welcome', value: { features: granted } } }),
      stream.variant,
    );
    if (granted.includes(FEATURE.relay)) await this.deps.relays!.deliver(next, stream.connectionId, stream.variant);
    return next;
  }
}
