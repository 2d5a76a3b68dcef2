// The room's History answers are bounded: RoomLedger.since() returns a page of at most about
// `maxBytes` (always at least one entry), and the pages together are the whole history, in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { entryBytes, RoomLedger } from '../../media-node/src/room/room-ledger';
import type { ConsumerDelivery } from '../../gen/medianode/v1/media_node';

const delivery = (receiver: string, producer: string, size: number): ConsumerDelivery => ({
  receiverSessionId: receiver,
  producerUserId: '1',
  producerSessionId: producer,
  producerId: 'p'.repeat(36),
  consumerId: 'c'.repeat(36),
  rtpParameters: 'r'.repeat(size),
});

test('History pages are bounded, at least one entry each, and cover the history in order', () => {
  const ledger = new RoomLedger({ retainMs: 60_000, maxEntries: 1000 });
  const sessions: string[] = [];
  for (let i = 0; i < 30; i++) {
    const id = `s${i}`;
    ledger.join(
      id,
      String(i),
      sessions.map((m) => delivery(id, m, 700)),
      sessions.map((m) => delivery(m, id, 700)),
    );
    sessions.push(id);
  }
  ledger.leave('s3', 'left');
  const maxBytes = 20_000;
  const seen: number[] = [];
  let pages = 0;
  for (let after = 0; after < ledger.head; pages++) {
    const page = ledger.since(after, maxBytes);
    assert.ok(page.entries.length >= 1);
    const bytes = page.entries.reduce((sum, e) => sum + entryBytes(e), 0);
    assert.ok(page.entries.length === 1 || bytes <= maxBytes, `page of ${bytes} bytes`);
    seen.push(...page.entries.map((e) => e.seq));
    after = page.entries.at(-1)!.seq;
  }
  assert.deepEqual(
    seen,
    Array.from({ length: 31 }, (_, i) => i + 1),
  );
  assert.ok(pages > 5, `paged (${pages} pages)`);
  // An entry bigger than a page still comes, alone.
  assert.equal(ledger.since(29, 10).entries.length, 1);
  // Without a bound: everything after the position.
  assert.equal(ledger.since(0).entries.length, 31);
});
