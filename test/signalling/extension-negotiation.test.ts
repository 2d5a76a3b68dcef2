// The server grants only what it serves (SERVED_FEATURES), and each grant sets exactly its record flag; a deployment
// may serve fewer (`enabled`): a client trusting a grant of consumers.v1 the media side does not serve would never
// resume its consumers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExtensionNegotiation } from '../../functions/voice/extension-negotiation';
import { RelayExtension } from '../../functions/voice/relay-extension';
import type { ConnectionRecord } from '../../functions/voice/ports';
import { decodeServerFrame } from '../../protocol/hrpc';

describe('ExtensionNegotiation', () => {
  it('a deployment serving resume.v1 only grants resume.v1 and not consumers.v1; the record gets resume only', async () => {
    const sent: Uint8Array[] = [];
    let written: Partial<ConnectionRecord> | undefined;
    const negotiation = new ExtensionNegotiation({
      store: { transition: async (record, next) => ((written = next), { ...record, ...next } as ConnectionRecord) },
      gateway: { send: async (_id: string, frame: Uint8Array) => void sent.push(frame) } as never,
      log: { info() {}, debug() {}, warn() {}, error() {} } as never,
      enabled: ['resume.v1'],
    });
    const stream = {
      connectionId: 'c1',
      userId: '1',
      state: 'connected',
      version: 1,
      deadline: 0,
      ext: true,
      variant: 'binary',
    } as unknown as ConnectionRecord;
    const next = await negotiation.hello(stream, { features: ['resume.v1', 'consumers.v1'] });
    assert.deepEqual(next.features, ['resume.v1']);
    assert.equal(written?.resume, true);
    assert.equal((written as { consumersResumed?: boolean }).consumersResumed, undefined);
    const frame = decodeServerFrame(sent[0]!) as unknown as {
      kind: string;
      message?: { message?: { $case: string; value: { features: string[] } } };
    };
    assert.equal(frame.kind, 'ext');
    assert.deepEqual(frame.message?.message?.value.features, ['resume.v1']);
  });

  it('by default both are served: consumers.v1 sets consumersResumed', async () => {
    let written: Partial<ConnectionRecord> | undefined;
    const negotiation = new ExtensionNegotiation({
      store: { transition: async (record, next) => ((written = next), { ...record, ...next } as ConnectionRecord) },
      gateway: { send: async () => undefined } as never,
      log: { info() {}, debug() {}, warn() {}, error() {} } as never,
    });
    const stream = {
      connectionId: 'c1',
      userId: '1',
      state: 'connected',
      version: 1,
      deadline: 0,
      ext: true,
      variant: 'binary',
    } as unknown as ConnectionRecord;
    const next = await negotiation.hello(stream, { features: ['consumers.v1', 'resume.v1'] });
    assert.deepEqual(next.features, ['consumers.v1', 'resume.v1']);
    assert.equal((written as { consumersResumed?: boolean }).consumersResumed, true);
    assert.equal(written?.resume, true);
  });

  for (const configured of [false, true]) {
    it(`relay.v1 is granted only where relays are configured (${configured ? 'configured: Welcome then RelayServers' : 'none: left out, nothing more sent'})`, async () => {
      const sent: Uint8Array[] = [];
      const gateway = { send: async (_id: string, frame: Uint8Array) => void sent.push(frame) } as never;
      const log = { info() {}, debug() {}, warn() {}, error() {} } as never;
      const relays = new RelayExtension({
        gateway,
        log,
        clock: { now: () => 1_800_000_000_000 },
        ...(configured
          ? { relays: { secret: 's'.repeat(40), urls: ['turns:relay.example.com:443?transport=tcp'] } }
          : {}),
      });
      const negotiation = new ExtensionNegotiation({
        store: { transition: async (record, next) => ({ ...record, ...next }) as ConnectionRecord },
        gateway,
        log,
        relays,
      });
      const stream = {
        connectionId: 'c1',
        userId: '7',
        state: 'connected',
        version: 1,
        deadline: 0,
        ext: true,
        variant: 'binary',
      } as unknown as ConnectionRecord;
      const next = await negotiation.hello(stream, { features: ['relay.v1', 'resume.v1'] });
      assert.deepEqual(next.features, configured ? ['relay.v1', 'resume.v1'] : ['resume.v1']);
      const cases = sent.map(
        (f) => (decodeServerFrame(f) as unknown as { message: { message: { $case: string } } }).message.message.$case,
      );
      assert.deepEqual(cases, configured ? ['welcome', 'relays'] : ['welcome']);
    });
  }
});
