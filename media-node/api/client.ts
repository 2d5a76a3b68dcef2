// A promise-returning client of the media node's gRPC API that authenticates every call.
// No mediasoup import: the signalling side and tests use it.
import { credentials, type ClientReadableStream } from '@grpc/grpc-js';
import {
  MediaNodeClient,
  type CreateTransportsRequest,
  type CreateTransportsResponse,
  type GetRoomRequest,
  type GetRoomResponse,
  type HistoryRequest,
  type HistoryResponse,
  type JoinRequest,
  type JoinResponse,
  type LeaveRequest,
  type LeaveResponse,
  type OpenRoomRequest,
  type OpenRoomResponse,
  type ResumeConsumerRequest,
  type ResumeConsumerResponse,
  type RestartIceRequest,
  type RestartIceResponse,
  type SessionLost,
  type SetMemberStateRequest,
  type SetMemberStateResponse,
} from '../../gen/medianode/v1/media_node';
import { unaryCaller, type CallerOptions } from './unary';

export interface MediaNodeApi {
  /** `holdMs` defaults to 0 (the node's own grace). */
  openRoom(request: Optional<OpenRoomRequest, 'holdMs'>): Promise<OpenRoomResponse>;
  /** `minIceConsentTimeoutS` defaults to 0 (the node's own ICE consent timeout). */
  createTransports(
    request: Optional<CreateTransportsRequest, 'minIceConsentTimeoutS' | 'reserveForMs' | 'consumersResumed'>,
  ): Promise<CreateTransportsResponse>;
  /** `maxMembers` defaults to 0 (no limit). */
  join(request: Optional<JoinRequest, 'maxMembers'>): Promise<JoinResponse>;
  resumeConsumer(request: ResumeConsumerRequest): Promise<ResumeConsumerResponse>;
  leave(request: LeaveRequest): Promise<LeaveResponse>;
  getRoom(request: GetRoomRequest): Promise<GetRoomResponse>;
  history(request: HistoryRequest): Promise<HistoryResponse>;
  restartIce(request: RestartIceRequest): Promise<RestartIceResponse>;
  /** state.v1 (`targetUserId` defaults to '': the caller itself). */
  setMemberState(request: Optional<SetMemberStateRequest, 'targetUserId' | 'stamp'>): Promise<SetMemberStateResponse>;
  watchSessions(): ClientReadableStream<SessionLost>;
  close(): void;
}

type Optional<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

export type MediaNodeApiOptions = CallerOptions;

/** Connects (lazily) to the media node at `address` ("host:port"). Errors reject with the grpc ServiceError. */
export function connectMediaNode(address: string, options: MediaNodeApiOptions = {}): MediaNodeApi {
  const client = new MediaNodeClient(address, credentials.createInsecure());
  const { call, metadata } = unaryCaller(client, options);
  return {
    openRoom: (request) => call(client.openRoom)({ holdMs: 0, ...request }),
    createTransports: (request) =>
      call(client.createTransports)({
        ...request,
        minIceConsentTimeoutS: request.minIceConsentTimeoutS ?? 0,
        reserveForMs: request.reserveForMs ?? 0,
        consumersResumed: request.consumersResumed ?? false,
      }),
    join: (request) => call(client.join)({ maxMembers: 0, ...request }),
    resumeConsumer: call(client.resumeConsumer),
    leave: call(client.leave),
    getRoom: call(client.getRoom),
    history: call(client.history),
    restartIce: call(client.restartIce),
    setMemberState: (request) => call(client.setMemberState)({ targetUserId: '', stamp: 0n, ...request }),
    watchSessions: () => client.watchSessions({}, metadata()),
    close: () => client.close(),
  };
}
