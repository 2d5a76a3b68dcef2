// Light media-node members for tests and benchmarks: a session's media as a PlainTransport pair made through the
// node's `localMedia` seam instead of WebRTC transports. Its producer is fed plain RTP from a UDP socket of the
// caller (comedia: the node learns the address from the first packet); its consumers send to a sink port the caller
// counts at. Everything else — rooms, joins, the consumer mesh, spans, the police — is the node's own.
// Used by test/media-node/flood.ts (the police tests) and bench/span.ts.
import type { types } from 'mediasoup';
import { MediaError } from '../../media-node/api/errors';
import { localConsumer, localProducer, type LocalMediaFactory } from '../../media-node/src/session/session-media';

export interface PlainMembersOptions {
  /** Where a session's consumers send. */
  sinkPort(sessionId: string): number;
  /** Makes a session's consumer transport sending to `sinkPort` (bench/span.ts: SRTP); default plain RTP. */
  consumerTransport?(router: types.Router, sinkPort: number): Promise<types.PlainTransport>;
}

/** Members as PlainTransports: the producer fed plain RTP (comedia), the consumers sent to the sink. */
export function plainMembers(options: PlainMembersOptions): LocalMediaFactory {
  const consumerTransportTo = options.consumerTransport ?? plainConsumerTransport;
  return async ({ router, sessionId }) => {
    const producerTransport = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: true,
      comedia: true,
    });
    const consumerTransport = await consumerTransportTo(router, options.sinkPort(sessionId));
    const transportOptions = (t: types.PlainTransport) => ({
      id: t.id,
      iceParameters: '{}',
      iceCandidates: [JSON.stringify({ ip: t.tuple.localIp, port: t.tuple.localPort })],
      dtlsParameters: '{}',
    });
    return {
      consumerOptions: transportOptions(consumerTransport),
      producerOptions: transportOptions(producerTransport),
      start: async (rtpParameters, _producerDtls, _consumerDtls, appData) =>
        localProducer(await producerTransport.produce({ kind: 'audio', rtpParameters, appData })),
      consume: async (producerId, rtpCapabilities, appData) => {
        if (!router.canConsume({ producerId, rtpCapabilities }))
          throw new MediaError('cannot-consume', `${appData.sessionId} cannot consume ${producerId}`);
        return localConsumer(await consumerTransport.consume({ producerId, rtpCapabilities, paused: true, appData }));
      },
      restartIce: async () => {
        throw new MediaError('internal', 'plain members do not restart ICE');
      },
      close: () => {
        producerTransport.close();
        consumerTransport.close();
      },
    };
  };
}

async function plainConsumerTransport(router: types.Router, sinkPort: number): Promise<types.PlainTransport> {
  const transport = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
    rtcpMux: true,
    comedia: false,
  });
  await transport.connect({ ip: '127.0.0.1', port: sinkPort });
  return transport;
}
