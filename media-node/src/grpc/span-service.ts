// Thin adapter: node-to-node gRPC calls (MediaNodeSpan: a room's home node driving a part of the room
// hosted here) → PartHost, authenticated by its own secret
// (the span secret: a caller holding only the signalling→node secret is refused here, and the other way round).
import type { SecretRing } from '../../api/auth';
import type { handleServerStreamingCall } from '@grpc/grpc-js';
import type { MediaNodeSpanServer, SessionLost, WatchPartRequest } from '../../../gen/medianode/v1/media_node';
import type { Logger } from '../../../lib/log';
import { grpcHandlers } from './grpc-handlers';
import type { PartHost } from '../span/part-host';

export interface SpanServiceDeps {
  parts: PartHost;
  /** The span secrets (undefined: MEDIA_GRPC_INSECURE=1). */
  secrets: SecretRing | undefined;
  logger: Logger;
}

export function createSpanService({ parts, secrets, logger }: SpanServiceDeps): {
  implementation: MediaNodeSpanServer;
  endStreams(): void;
} {
  const { unary, admitStream, toStatus } = grpcHandlers(secrets, (method, failure, error) => {
    if (failure.reason === 'internal' || failure.reason === 'unauthenticated')
      logger.warn('media-node.span-call-failed', { method, error });
  });

  const streams = new Set<() => void>();
  const watchPart: handleServerStreamingCall<WatchPartRequest, SessionLost> = (call) => {
    if (!admitStream('WatchPart', call)) return;
    let unsubscribe: () => void = () => {};
    const end = () => {
      unsubscribe();
      streams.delete(end);
      call.end();
    };
    try {
      unsubscribe = parts.watch(call.request.roomId, (event) => call.write(event), end);
    } catch (error) {
      call.emit('error', toStatus('WatchPart', error));
      return;
    }
    streams.add(end);
    const stop = () => {
      unsubscribe();
      streams.delete(end);
    };
    call.on('cancelled', stop);
    call.on('close', stop);
    call.on('error', stop);
  };

  const empty = {};
  const implementation: MediaNodeSpanServer = {
    openPart: unary('OpenPart', async ({ roomId, homeNodeId }) => ({
      rtpCapabilities: JSON.stringify(await parts.open(roomId, homeNodeId)),
    })),
    createPipe: unary('CreatePipe', async ({ roomId }) => parts.createPipe(roomId)),
    connectPipe: unary('ConnectPipe', async ({ roomId, remote }) => {
      await parts.connectPipe(roomId, remote);
      return empty;
    }),
    partCreateTransports: unary(
      'PartCreateTransports',
      async ({ roomId, sessionId, userId, minIceConsentTimeoutS }) => {
        const { consumer, producer } = await parts.createTransports(roomId, sessionId, userId, minIceConsentTimeoutS);
        return { consumerTransport: consumer, producerTransport: producer };
      },
    ),
    partJoin: unary('PartJoin', async (r) => ({
      producerId: await parts.join(
        r.roomId,
        r.sessionId,
        r.rtpParameters,
        r.producerDtlsParameters,
        r.consumerDtlsParameters,
      ),
    })),
    partConsume: unary('PartConsume', async (r) => {
      const consumer = await parts.consume(r.roomId, r.sessionId, r.producerId, r.rtpCapabilities, r.producerSessionId);
      return { consumerId: consumer.id, rtpParameters: JSON.stringify(consumer.rtpParameters) };
    }),
    partResumeConsumer: unary('PartResumeConsumer', async ({ roomId, sessionId, consumerId }) => {
      await parts.resumeConsumer(roomId, sessionId, consumerId);
      return empty;
    }),
    partPauseConsumer: unary('PartPauseConsumer', async ({ roomId, sessionId, consumerId }) => {
      await parts.pauseConsumer(roomId, sessionId, consumerId);
      return empty;
    }),
    partSetMuted: unary('PartSetMuted', async ({ roomId, sessionId, muted }) => {
      await parts.setMuted(roomId, sessionId, muted);
      return empty;
    }),
    partCloseConsumer: unary('PartCloseConsumer', async ({ roomId, sessionId, consumerId }) => {
      parts.closeConsumer(roomId, sessionId, consumerId);
      return empty;
    }),
    partRestartIce: unary('PartRestartIce', async ({ roomId, sessionId }) => {
      const { consumer, producer } = await parts.restartIce(roomId, sessionId);
      return { consumerIceParameters: JSON.stringify(consumer), producerIceParameters: JSON.stringify(producer) };
    }),
    partCloseSession: unary('PartCloseSession', async ({ roomId, sessionId }) => {
      parts.closeSession(roomId, sessionId);
      return empty;
    }),
    pipeProduce: unary('PipeProduce', async ({ roomId, producerId, kind, rtpParameters }) => {
      await parts.pipeProduce(roomId, producerId, kind, rtpParameters);
      return empty;
    }),
    pipeCloseProducer: unary('PipeCloseProducer', async ({ roomId, producerId }) => {
      await parts.pipeCloseProducer(roomId, producerId);
      return empty;
    }),
    pipeConsume: unary('PipeConsume', async ({ roomId, producerId }) => {
      const { kind, rtpParameters } = await parts.pipeConsume(roomId, producerId);
      return { kind, rtpParameters: JSON.stringify(rtpParameters) };
    }),
    closePart: unary('ClosePart', async ({ roomId }) => {
      parts.close(roomId);
      return empty;
    }),
    watchPart,
  };
  return {
    implementation,
    endStreams: () => {
      for (const end of [...streams]) end();
    },
  };
}
