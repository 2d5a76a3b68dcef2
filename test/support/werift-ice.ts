// The one place that reaches into an msc-node transport's werift internals: msc-node exposes neither its
// handler's RTCPeerConnection nor werift's ICE agent (`Connection`, werift/lib/ice/src/ice.js), and the
// ICE restart and address change of the resume.v1 tests need both. Typed as far as those modules use them
// (werift 0.18.17, msc-node's werift handler).
import type { Device } from 'msc-node';

export type MscTransport = ReturnType<Device['createSendTransport']>;

export interface WeriftCandidate {
  foundation: string;
  component: number;
  transport: string;
  priority: number;
  host: string;
  port: number;
  type: string;
}

/** werift's StunProtocol: one UDP socket of the ICE agent, with its host candidate. */
export interface WeriftStunProtocol {
  readonly type: string;
  localAddress?: string;
  localCandidate?: WeriftCandidate;
  transport: {
    socket: import('node:dgram').Socket;
    send(data: Buffer, addr: [string, number]): Promise<void>;
    onData(data: Buffer, addr: [string, number]): void;
  };
  connectionMade(useIpv4: boolean, portRange?: [number, number], interfaceAddresses?: unknown): Promise<void>;
  getExtraInfo(): [string, number];
  close(): Promise<void>;
}

export interface WeriftCandidatePair {
  readonly protocol: WeriftStunProtocol;
  handle?: { cancel(): void };
}

/** werift's ICE agent (RFC 8445 full agent; mediasoup is ICE-lite, so it is the controlling side). */
export interface WeriftIceConnection {
  iceControlling: boolean;
  remoteUsername: string;
  remotePassword: string;
  localUserName: string;
  state: string;
  protocols: WeriftStunProtocol[];
  localCandidates: WeriftCandidate[];
  remoteCandidates: WeriftCandidate[];
  checkList: WeriftCandidatePair[];
  checkListDone: boolean;
  checkListState: object;
  earlyChecks: unknown[];
  nominated: Record<number, WeriftCandidatePair | undefined>;
  nominating: Set<number>;
  queryConsentHandle?: { cancel(): void; done(): boolean };
  options: { portRange?: [number, number]; interfaceAddresses?: unknown };
  resetNominatedPair(): void;
  connect(): Promise<void>;
}

export interface WeriftIceTransport {
  readonly connection: WeriftIceConnection;
  /** werift resets the nominated pair here when the remote ufrag/pwd change (its ICE-restart detection). */
  setRemoteParams(params: { usernameFragment: string; password: string; iceLite?: boolean }): void;
}

export interface WeriftHandler {
  _pc?: { iceTransports: WeriftIceTransport[] };
  _remoteSdp?: { updateIceParameters(params: unknown): void };
  restartIce(iceParameters: unknown): Promise<void>;
}

/** The werift handler behind an msc-node transport. */
export function handlerOf(transport: MscTransport): WeriftHandler {
  const handler = (transport as unknown as { _handler?: WeriftHandler })._handler;
  if (!handler || handler.restartIce === undefined)
    throw new Error('werift-ice.no-handler: not an msc-node werift transport');
  return handler;
}

/**
 * The transport's ICE agent. The handler bundles everything on one RTCPeerConnection (max-bundle), so
 * there is one; it exists once the transport has negotiated (after its first produce/consume).
 */
export function iceOf(transport: MscTransport): { iceTransport: WeriftIceTransport; connection: WeriftIceConnection } {
  const pc = handlerOf(transport)._pc;
  const iceTransport = pc?.iceTransports[0];
  if (!iceTransport) throw new Error('werift-ice.not-negotiated: the transport has no ICE transport yet');
  return { iceTransport, connection: iceTransport.connection };
}

/** The local UDP ports the transport's ICE agent has open now (one per gathered host address). */
export function localPorts(transport: MscTransport): number[] {
  return iceOf(transport).connection.protocols.map((p) => p.getExtraInfo()[1]);
}

/** The local port of the pair ICE nominated (the one media is sent from), if any. */
export function nominatedPort(transport: MscTransport): number | undefined {
  const pair = iceOf(transport).connection.nominated[1];
  return pair?.protocol.getExtraInfo()[1];
}
