// A promise-returning client of the node-to-node MediaNodeSpan service (a room's home node driving a part
// of it on another node), authenticated with the same shared secret as the media node's API.
import { credentials, Metadata, type CallOptions, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
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
import { authMetadata } from './auth';

export interface MediaNodeSpanApi {
  openPart(request: OpenPartRequest): Promise<OpenPartResponse>;
  createPipe(request: CreatePipeRequest): Promise<PipeEndpoint>;
  connectPipe(request: ConnectPipeRequest): Promise<unknown>;
  partCreateTransports(request: PartCreateTransportsRequest): Promise<CreateTransportsResponse>;
  partJoin(request: PartJoinRequest): Promise<PartJoinResponse>;
  partConsume(request: PartConsumeRequest): Promise<PartConsumeResponse>;
  partResumeConsumer(request: PartConsumerRequest): Promise<unknown>;
  partCloseConsumer(request: PartConsumerRequest): Promise<unknown>;
  partRestartIce(request: PartSessionRequest): Promise<RestartIceResponse>;
  partCloseSession(request: PartSessionRequest): Promise<unknown>;
  pipeProduce(request: PipeProduceRequest): Promise<unknown>;
  pipeCloseProducer(request: PipeProducerRequest): Promise<unknown>;
  pipeConsume(request: PipeProducerRequest): Promise<PipeConsumeResponse>;
  closePart(request: ClosePartRequest): Promise<unknown>;
  watchPart(roomId: string): ClientReadableStream<SessionLost>;
  close(): void;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

export function connectMediaNodeSpan(address: string, options: { secret?: string; timeoutMs?: number } = {}): MediaNodeSpanApi {
  const client = new MediaNodeSpanClient(address, credentials.createInsecure());
  const timeoutMs = options.timeoutMs ?? 10_000;
  const metadata = () => (options.secret === undefined ? new Metadata() : authMetadata(options.secret));
  const call =
    <Req, Res>(method: Unary<Req, Res>) =>
    (request: Req) =>
      new Promise<Res>((resolve, reject) => {
        method.call(client, request, metadata(), { deadline: Date.now() + timeoutMs }, (error, response) =>
          error ? reject(error) : resolve(response),
        );
      });
  return {
    openPart: call(client.openPart),
    createPipe: call(client.createPipe),
    connectPipe: call(client.connectPipe),
    partCreateTransports: call(client.partCreateTransports),
    partJoin: call(client.partJoin),
    partConsume: call(client.partConsume),
    partResumeConsumer: call(client.partResumeConsumer),
    partCloseConsumer: call(client.partCloseConsumer),
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
