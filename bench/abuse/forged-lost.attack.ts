// A forged loss report. While honest members are joined, a `LOST#` registry item is written for
// each of their sessions as if by a media node that does not host them (as test/signalling/registry-trust.test.ts
// forges it), then the reaper sweeps. Contained: the sweep drops every forged report (it logs
// `voice.lost-report-ignored`) and every victim is still joined after it — no honest member is ended.
// Cost: the forgery itself is one registry write per report. To find the victims' session ids the bench scans the
// state table (an attacker has no such read) and runs one sweep at once instead of waiting for the periodic one:
// both are counted by the harness too, so the measured cost is an upper bound.
import { NODES_TABLE, STATE_TABLE } from '../../data/tables';
import { createDocumentClient } from '../../routing/dynamo';
import { NodeRegistry } from '../../routing/node-registry';
import { allConnectionRecords } from '../../test/support/state-table';
import type { Attack } from './attack';

const FORGER = 'forger-node';
/** Forge once at least this many honest members are joined (or when the wait below runs out). */
const VICTIMS = 2;
const WAIT_MS = 20_000;

const attack: Attack = {
  name: 'forged-lost',
  description: `LOST# items for joined honest members' sessions, written as if by a node ("${FORGER}") that does not host them`,
  async start(target) {
    const db = createDocumentClient({ endpoint: target.stack.dynamo.endpoint });
    const stateTable = target.stack.dynamo.tables[STATE_TABLE.envVar]!;
    const registry = new NodeRegistry(db, target.stack.dynamo.tables[NODES_TABLE.envVar]!);
    const guild = String(target.guild);
    const channel = String(target.channel);
    const joinedHere = async () =>
      (await allConnectionRecords(db, stateTable)).filter(
        (r) =>
          r.state === 'joined' && r.guildId === guild && r.channelId === channel && r.nodeId && r.nodeId !== FORGER,
      );
    const result = (async (): Promise<{ contained: boolean; detail: string }> => {
      const deadline = Date.now() + WAIT_MS;
      let victims = await joinedHere();
      while (victims.length < VICTIMS && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        victims = await joinedHere();
      }
      if (victims.length === 0)
        return { contained: false, detail: `no honest member joined within ${WAIT_MS / 1000} s: nothing forged` };
      for (const v of victims) {
        await registry.recordLostSession({
          roomId: `${guild}:${channel}`,
          sessionId: v.connectionId,
          userId: v.userId,
          reason: 'ice-failed',
          nodeId: FORGER,
        });
      }
      const written = (await registry.listLostSessions()).filter((l) => l.nodeId === FORGER).length;
      await target.stack.runReaper();
      const left = (await registry.listLostSessions()).filter((l) => l.nodeId === FORGER).length;
      const after = await allConnectionRecords(db, stateTable);
      const ended = victims.filter((v) => after.find((r) => r.connectionId === v.connectionId)?.state !== 'joined');
      return {
        contained: written === victims.length && left === 0 && ended.length === 0,
        detail:
          `${victims.length} forged LOST reports (1 registry write each; on AWS a node's IAM role cannot even write another node's partition), ` +
          `${written} in the registry before the sweep, ${left} after it; ${ended.length} of the victims ended`,
      };
    })();
    return {
      tokens: 1,
      async stop() {
        return result.catch((error: Error) => ({ contained: false, detail: `the forgery failed: ${error.message}` }));
      },
    };
  },
};

export default attack;
