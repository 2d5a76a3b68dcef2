// A promise-returning client of the node-to-node MediaNodeSpan service (a room's home node driving a part
// of it on another node), authenticated with the same shared secret as the media node's API.
import { credentials, type ClientReadableStream } from '@grpc/grpc-js';
import {
  MediaNodeSpanClient,
  type ClosePartRequest,
  type ConnectPipeRequest,
  type CreatePipeRequest,
  type CreateTransportsResponse,
  type OpenPartRequest,
  type OpenPartResponse,
  type PartConsumeRequest,
  type PartConsumeResponse,
  type PartConsumerRequest,
  type PartMuteRequest,
  type PartCreateTransportsRequest,
  type PartJoinRequest,
  type PartJoinResponse,
  type PartSessionRequest,
  type PipeConsumeResponse,
  type PipeEndpoint,
  type PipeProduceRequest,
  type PipeProducerRequest,
  type RestartIceResponse,
  type SessionLost,
} from '../../gen/medianode/v1/media_node';
import { unaryCaller, type CallerOptions } from './unary';

export interface MediaNodeSpanApi {
  openPart(request: OpenPartRequest): Promise<OpenPartResponse>;
  createPipe(request: CreatePipeRequest): Promise<PipeEndpoint>;
  connectPipe(request: ConnectPipeRequest): Promise<unknown>;
  partCreateTransports(request: PartCreateTransportsRequest): Promise<CreateTransportsResponse>;
  partJoin(request: PartJoinRequest): Promise<PartJoinResponse>;
  partConsume(request: PartConsumeRequest): Promise<PartConsumeResponse>;
  partResumeConsumer(request: PartConsumerRequest): Promise<unknown>;
  partCloseConsumer(request: PartConsumerRequest): Promise<unknown>;
  partPauseConsumer(request: PartConsumerRequest): Promise<unknown>;
  partSetMuted(request: PartMuteRequest): Promise<unknown>;
  partRestartIce(request: PartSessionRequest): Promise<RestartIceResponse>;
  partCloseSession(request: PartSessionRequest): Promise<unknown>;
  pipeProduce(request: PipeProduceRequest): Promise<unknown>;
  pipeCloseProducer(request: PipeProducerRequest): Promise<unknown>;
  pipeConsume(request: PipeProducerRequest): Promise<PipeConsumeResponse>;
  closePart(request: ClosePartRequest): Promise<unknown>;
  watchPart(roomId: string): ClientReadableStream<SessionLost>;
  close(): void;
}

export function connectMediaNodeSpan(address: string, options: CallerOptions = {}): MediaNodeSpanApi {
  const client = new MediaNodeSpanClient(address, credentials.createInsecure());
  const { call, metadata } = unaryCaller(client, options);
  return {
    openPart: call(client.openPart),
    createPipe: call(client.createPipe),
    connectPipe: call(client.connectPipe),
    partCreateTransports: call(client.partCreateTransports),
    partJoin: call(client.partJoin),
    partConsume: call(client.partConsume),
    partResumeConsumer: call(client.partResumeConsumer),
    partCloseConsumer: call(client.partCloseConsumer),
    partPauseConsumer: call(client.partPauseConsumer),
    partSetMuted: call(client.partSetMuted),
    partRestartIce: call(client.partRestartIce),
    partCloseSession: call(client.partCloseSession),
    pipeProduce: call(client.pipeProduce),
    pipeCloseProducer: call(client.pipeCloseProducer),
    pipeConsume: call(client.pipeConsume),
    closePart: call(client.closePart),
    watchPart: (roomId) => client.watchPart({ roomId }, metadata()),
    close: () => client.close(),
  };
}
