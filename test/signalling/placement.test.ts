// Placement without listing the fleet (routing/candidates.ts, functions/voice/channel-placement.ts): a new channel
// is placed from the published candidate list (one read), with the same rule as from the full list; a dead,
// draining or full node is never chosen once the bound has passed (death: 15 s after its last heartbeat, as with
// the full list; drain/full: the next published list), even while an older list still names it; without a usable
// list placement lists the registry; an existing channel is judged from its node's own fresh record.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStateStore } from '../../functions/adapters/memory-store';
import { ChannelPlacement } from '../../functions/voice/channel-placement';
import type { NodeDirectory } from '../../functions/voice/ports';
import { silentLogger } from '../../lib/log';
import { candidateRecord, rankCandidates } from '../../routing/candidates';
import { pickNode } from '../../routing/placement';
import type { MediaNodeRecord } from '../../routing/types';
import { nodeRecord } from '../support/node-record';

const STALE_MS = 15_000;
let now = 1_800_000_000_000;

function node(nodeId: string, overrides: Partial<MediaNodeRecord> = {}): MediaNodeRecord {
  return nodeRecord(
    nodeId,
    {
      publicAddress: '203.0.113.1',
      cpu: { workers: [0], avg: 0, max: 0 },
      load: { workers: [0.1], avg: 0.1, admitLoad: 0.8 },
      expiresAt: Math.floor(now / 1000) + 60,
      ...overrides,
    },
    now,
  );
}

/** A registry in memory with a published list, counting what placement reads. */
class Directory implements NodeDirectory {
  fleet = new Map<string, MediaNodeRecord>();
  published?: MediaNodeRecord[];
  reads = { list: 0, get: 0, candidates: 0 };
  set(...nodes: MediaNodeRecord[]) {
    for (const n of nodes) this.fleet.set(n.nodeId, n);
  }
  /** What the sweep does every 5 s. */
  publish() {
    this.published = rankCandidates([...this.fleet.values()], now, STALE_MS).map(candidateRecord);
  }
  async listNodes() {
    this.reads.list++;
    return [...this.fleet.values()];
  }
  async getNode(id: string) {
    this.reads.get++;
    return this.fleet.get(id);
  }
  async placementCandidates() {
    this.reads.candidates++;
    return this.published;
  }
}

function placement(nodes: Directory, store = new MemoryStateStore(() => now)) {
  return new ChannelPlacement({
    store,
    nodes,
    clock: { now: () => now },
    log: silentLogger,
    holdMs: 60_000,
    placementLifetimeSeconds: 3600,
    nodeStaleAfterMs: STALE_MS,
    media: { openRoom: async () => ({ rtpCapabilities: '{}' }) },
  });
}

describe('placement from the published candidates', () => {
  test('a new channel reads the list once and never lists the fleet; the least loaded node wins', async () => {
    const nodes = new Directory();
    nodes.set(
      node('a', { load: { workers: [0.5], avg: 0.5, admitLoad: 0.8 } }),
      node('b', { load: { workers: [0.2], avg: 0.2, admitLoad: 0.8 } }),
    );
    nodes.publish();
    const opened = await placement(nodes).open('1:1');
    assert.equal(opened.placement.nodeId, 'b');
    assert.deepEqual(nodes.reads, { list: 0, get: 0, candidates: 1 });
  });

  test('a dead node is never chosen once its last heartbeat is 15 s old, though the list still names it', async () => {
    const nodes = new Directory();
    nodes.set(
      node('dead', { load: { workers: [0], avg: 0, admitLoad: 0.8 } }),
      node('alive', { load: { workers: [0.6], avg: 0.6, admitLoad: 0.8 } }),
    );
    nodes.publish();
    assert.equal(
      (await placement(nodes).open('1:2')).placement.nodeId,
      'dead',
      'before the bound it is still the least loaded',
    );
    // 'dead' stops heartbeating; 'alive' goes on. The list is not republished (the worst case: the sweep is late).
    now += STALE_MS + 1;
    nodes.set(node('alive', { heartbeatAt: now, load: { workers: [0.6], avg: 0.6, admitLoad: 0.8 } }));
    for (let i = 0; i < 20; i++) {
      const chosen = (await placement(nodes).open(`2:${i}`)).placement.nodeId;
      assert.equal(chosen, 'alive', 'the dead node is never chosen after the bound');
    }
    nodes.publish();
    assert.deepEqual(
      nodes.published?.map((n) => n.nodeId),
      ['alive'],
      'and the next list leaves it out',
    );
  });

  test('a draining or full node is never chosen from the next published list on', async () => {
    const nodes = new Directory();
    nodes.set(
      node('x', { load: { workers: [0], avg: 0, admitLoad: 0.8 } }),
      node('y', { load: { workers: [0.3], avg: 0.3, admitLoad: 0.8 } }),
      node('z', { load: { workers: [0.4], avg: 0.4, admitLoad: 0.8 } }),
    );
    nodes.publish();
    nodes.set(
      node('x', { state: 'draining', load: { workers: [0], avg: 0, admitLoad: 0.8 } }),
      node('y', { load: { workers: [0.85], avg: 0.85, admitLoad: 0.8 } }),
    );
    nodes.publish();
    for (let i = 0; i < 20; i++) assert.equal((await placement(nodes).open(`3:${i}`)).placement.nodeId, 'z');
  });

  test('no list yet, or nothing live on it: placement lists the registry (slower, never wrong)', async () => {
    const nodes = new Directory();
    nodes.set(node('only'));
    assert.equal((await placement(nodes).open('4:1')).placement.nodeId, 'only');
    assert.equal(nodes.reads.list, 1);
    nodes.publish();
    now += STALE_MS + 1;
    nodes.set(node('only', { heartbeatAt: now }));
    assert.equal(
      (await placement(nodes).open('4:2')).placement.nodeId,
      'only',
      'a stale list falls back to the fresh registry',
    );
    assert.equal(nodes.reads.list, 2);
  });

  test("an existing channel is judged from its own node's fresh record (one read), never from the list", async () => {
    const nodes = new Directory();
    nodes.set(node('home'), node('other', { load: { workers: [0], avg: 0, admitLoad: 0.8 } }));
    nodes.publish();
    const store = new MemoryStateStore(() => now);
    await store.placeChannel('5:1', { nodeId: 'home', grpcAddress: 'home:50051' }, Math.floor(now / 1000) + 3600);
    // The list is old (home's entry would look dead), but home itself heartbeats: the channel stays put.
    now += STALE_MS + 1;
    nodes.set(node('home', { heartbeatAt: now }));
    nodes.reads = { list: 0, get: 0, candidates: 0 };
    assert.equal((await placement(nodes, store).open('5:1')).placement.nodeId, 'home');
    assert.deepEqual(nodes.reads, { list: 0, get: 1, candidates: 0 });
  });

  test("placement quality: from a fresh list the choice is the full list's, over 2,000 random fleets", () => {
    let same = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      let x = seed;
      const rand = () => (x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0) / 2 ** 32;
      const fleet = Array.from({ length: 5 + Math.floor(rand() * 200) }, (_, i) => {
        const workers = [rand(), rand()];
        return node(`n${i}`, {
          load: { workers, avg: (workers[0]! + workers[1]!) / 2, admitLoad: 0.8 },
          rooms: Math.floor(rand() * 50),
          state: rand() < 0.05 ? 'draining' : 'active',
          heartbeatAt: now - (rand() < 0.05 ? 20_000 : rand() * 5_000),
        });
      });
      const full = pickNode(fleet, now, { staleAfterMs: STALE_MS })?.nodeId;
      const fromList = pickNode(rankCandidates(fleet, now, STALE_MS).map(candidateRecord), now, {
        staleAfterMs: STALE_MS,
      })?.nodeId;
      if (full === fromList) same++;
    }
    assert.equal(same, 2000);
  });
});
