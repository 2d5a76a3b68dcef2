// An ICE restart for msc-node transports: msc-node's werift handler has `restartIce()` as a no-op (werift
// 0.18.17 has no RTCPeerConnection.restartIce either), so a Node test client could not apply the new ICE
// parameters a resume.v1 `Resumed.ice` carries. `enableIceRestart` gives one transport's handler a real
// `restartIce(iceParameters)`, reached through msc-node's own `transport.restartIce({ iceParameters })` (as
// the SDK calls mediasoup-client's), doing what a browser's ICE restart against an ICE-lite server does:
//   1. the remote SDP keeps the new parameters (a later consume/produce renegotiates with them; werift would
//      otherwise see the old ufrag again and drop the new pair);
//   2. werift's ICE transport gets the new remote ufrag/pwd (werift resets its nominated pair on a change);
//   3. connectivity checks run again from the agent's current sockets (after an address change: the new
//      ones) with the new credentials, until a pair is nominated (USE-CANDIDATE, which makes mediasoup
//      switch its selected tuple). werift's consent checks would start over on that pair, but it sends none to
//      an ICE-lite server such as mediasoup (docs/limits.md), before or after.
// Media keeps its DTLS/SRTP session: only the path changes, as in a browser.
import { handlerOf, iceOf, type MscTransport, type WeriftIceConnection } from './werift-ice';

export interface IceParameters {
  usernameFragment: string;
  password: string;
  iceLite?: boolean;
}

/** Makes `transport.restartIce({ iceParameters })` work on this msc-node transport (idempotent). */
export function enableIceRestart(transport: MscTransport): void {
  const handler = handlerOf(transport);
  if ((handler as { iceRestartEnabled?: boolean }).iceRestartEnabled) return;
  handler.restartIce = async (iceParameters: unknown) => restartIce(transport, parseIceParameters(iceParameters));
  (handler as { iceRestartEnabled?: boolean }).iceRestartEnabled = true;
}

async function restartIce(transport: MscTransport, iceParameters: IceParameters): Promise<void> {
  handlerOf(transport)._remoteSdp?.updateIceParameters(iceParameters);
  const { iceTransport, connection } = iceOf(transport);
  if (connection.state === 'closed') throw new Error('werift-ice-restart.closed: the ICE agent is closed');
  stopChecks(connection);
  iceTransport.setRemoteParams(iceParameters);
  connection.resetNominatedPair(); // also when the credentials did not change (a plain re-check)
  await connection.connect();
}

/** Ends the previous round: its consent checks, its pending checks and its (finished) check list. */
function stopChecks(connection: WeriftIceConnection): void {
  if (connection.queryConsentHandle && !connection.queryConsentHandle.done()) connection.queryConsentHandle.cancel();
  connection.queryConsentHandle = undefined;
  for (const pair of connection.checkList) pair.handle?.cancel();
  connection.checkList = [];
  connection.earlyChecks = [];
  connection.checkListDone = false;
  // A fresh completion queue (werift's PQueue): the previous round's result must not end this one.
  connection.checkListState = new (connection.checkListState.constructor as new () => object)();
}

function parseIceParameters(value: unknown): IceParameters {
  const p = value as Partial<IceParameters> | undefined;
  if (!p || typeof p.usernameFragment !== 'string' || typeof p.password !== 'string') {
    throw new TypeError('werift-ice-restart.bad-parameters: iceParameters needs usernameFragment and password');
  }
  return { usernameFragment: p.usernameFragment, password: p.password, iceLite: p.iceLite === true };
}
