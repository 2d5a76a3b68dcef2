// A client's network change for msc-node transports: the werift ICE agent's UDP sockets are replaced by new
// ones on new local ports, as when a laptop moves to another network — the old sockets are closed, nothing is
// sent until ICE finds a path again (an ICE restart, werift-ice-restart.ts), and the server, still sending to
// the old address, reaches nobody. werift gathers once, at negotiation; this is the re-gathering a browser does
// for a restart after a network change: one new socket (port) per host address, same interface address.
// Each new socket's traffic is recorded (STUN parsed from the wire bytes, everything else counted as media), so a
// test can see which ICE credentials left from the new port and that the server answered there.
import { isIPv4 } from 'node:net';
import { iceOf, type MscTransport, type WeriftCandidate, type WeriftStunProtocol } from './werift-ice';

export interface StunSeen {
  direction: 'sent' | 'received';
  /** 'request', 'success' or 'error' (STUN class of a Binding message). */
  kind: 'request' | 'success' | 'error' | 'indication';
  /** USERNAME of a request ("<server ufrag>:<client ufrag>"). */
  username?: string;
  useCandidate: boolean;
  peer: [string, number];
  at: number;
}

/** What crossed one new socket. */
export interface NewSocketWire {
  port: number;
  stun: StunSeen[];
  /** Non-STUN datagrams received (DTLS, SRTP, SRTCP) and when the first came. */
  mediaIn: number;
  firstMediaInAt?: number;
}

export interface AddressChange {
  oldPorts: number[];
  newPorts: number[];
  /** When the new sockets were open (Date.now()). */
  openedAt: number;
  wire: NewSocketWire[];
}

/** Moves the transport's ICE agent to new UDP sockets (new local ports) and closes the old ones. */
export async function changeLocalAddress(transport: MscTransport): Promise<AddressChange> {
  const { connection } = iceOf(transport);
  const old = connection.protocols.filter((p) => p.type === 'stun' && p.localCandidate);
  if (old.length === 0) throw new Error('werift-address-change.no-sockets: the ICE agent has no UDP socket');
  const fresh: WeriftStunProtocol[] = [];
  const wire: NewSocketWire[] = [];
  for (const previous of old) {
    const Protocol = previous.constructor as new (receiver: unknown) => WeriftStunProtocol;
    const protocol = new Protocol(connection);
    const address = previous.localAddress ?? previous.localCandidate!.host;
    await protocol.connectionMade(isIPv4(address), connection.options.portRange, connection.options.interfaceAddresses);
    protocol.localAddress = address;
    const port = protocol.getExtraInfo()[1];
    const c = previous.localCandidate!;
    const Candidate = c.constructor as new (...args: unknown[]) => WeriftCandidate;
    protocol.localCandidate = new Candidate(c.foundation, c.component, c.transport, c.priority, c.host, port, 'host');
    wire.push(record(protocol, port));
    fresh.push(protocol);
  }
  const openedAt = Date.now();
  // The old path is gone: no nominated pair (werift sends nothing without one), no consent checks on it, no
  // pairs of the old sockets.
  if (connection.queryConsentHandle && !connection.queryConsentHandle.done()) connection.queryConsentHandle.cancel();
  connection.queryConsentHandle = undefined;
  connection.resetNominatedPair();
  for (const pair of connection.checkList) if (old.includes(pair.protocol)) pair.handle?.cancel();
  connection.checkList = connection.checkList.filter((pair) => !old.includes(pair.protocol));
  connection.protocols = [...connection.protocols.filter((p) => !old.includes(p)), ...fresh];
  connection.localCandidates = [
    ...connection.localCandidates.filter((c) => !old.some((p) => p.localCandidate === c)),
    ...fresh.map((p) => p.localCandidate!),
  ];
  const oldPorts = old.map((p) => p.getExtraInfo()[1]);
  await Promise.all(old.map((p) => p.close()));
  return { oldPorts, newPorts: wire.map((w) => w.port), openedAt, wire };
}

function record(protocol: WeriftStunProtocol, port: number): NewSocketWire {
  const wire: NewSocketWire = { port, stun: [], mediaIn: 0 };
  const udp = protocol.transport;
  const send = udp.send;
  udp.send = (data, addr) => {
    const stun = parseStun(data);
    if (stun) wire.stun.push({ ...stun, direction: 'sent', peer: addr, at: Date.now() });
    return send(data, addr);
  };
  udp.socket.on('message', (data, info) => {
    const stun = parseStun(data);
    if (stun) wire.stun.push({ ...stun, direction: 'received', peer: [info.address, info.port], at: Date.now() });
    else {
      wire.mediaIn++;
      wire.firstMediaInAt ??= Date.now();
    }
  });
  return wire;
}

const MAGIC_COOKIE = 0x2112a442;
const ATTR_USERNAME = 0x0006;
const ATTR_USE_CANDIDATE = 0x0025;

/** A STUN message's class, USERNAME and USE-CANDIDATE from its bytes (RFC 5389 §6, §15), or undefined. */
export function parseStun(data: Buffer): Omit<StunSeen, 'direction' | 'peer' | 'at'> | undefined {
  if (data.length < 20 || (data[0]! & 0xc0) !== 0 || data.readUInt32BE(4) !== MAGIC_COOKIE) return undefined;
  const type = data.readUInt16BE(0);
  const cls = ((type & 0x0100) >> 7) | ((type & 0x0010) >> 4);
  const kind = (['request', 'indication', 'success', 'error'] as const)[cls]!;
  let username: string | undefined;
  let useCandidate = false;
  const end = Math.min(data.length, 20 + data.readUInt16BE(2));
  for (let at = 20; at + 4 <= end; ) {
    const attr = data.readUInt16BE(at);
    const length = data.readUInt16BE(at + 2);
    if (attr === ATTR_USERNAME) username = data.subarray(at + 4, at + 4 + length).toString('utf8');
    if (attr === ATTR_USE_CANDIDATE) useCandidate = true;
    at += 4 + Math.ceil(length / 4) * 4;
  }
  return { kind, username, useCandidate };
}
