// The local stack heals: when its media node dies (SIGKILL here), it says so in its log, starts a new one,
// and a user can join again within 10 s (the join's own deadline; nothing is timed).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLogger, type Logger } from '../../lib/log';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { superviseMediaNode, type SupervisedNode } from '../../local/media-node-supervisor';
import { joinedClient } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import type { VoiceTestClient } from '../support/voice-client';

const GUILD = 9n;
const lines: Record<string, unknown>[] = [];
const logger: Logger = createLogger({ level: 'info', write: (line: string) => void lines.push(JSON.parse(line)) });
let stack: LocalStack;
const open: VoiceTestClient[] = [];

before(async () => {
  stack = await startLocalStack({ port: 0, strict: true, logger, mediaNode: { forwardLogs: false } });
});
after(async () => {
  for (const c of open) c.terminate();
  await stack?.close();
});

test('SIGKILL the media node: the stack logs it, starts a new one, and joins work again within 10 s', async () => {
  const first = await joinedClient({ wsUrl: stack.wsUrl, token: devToken(1n, GUILD, [1n]) }, GUILD, 1n);
  open.push(first.client);
  const dead = stack.mediaNode!;
  const restarted = stack.mediaNodeRestarted();
  process.kill(dead.pid, 'SIGKILL');
  const fresh = await restarted;
  assert.notEqual(fresh.pid, dead.pid);
  assert.equal(stack.mediaNode!.pid, fresh.pid, 'the stack reports the new node');
  assert.ok(
    lines.some((l) => l.msg === 'media-node.died' && l.pid === dead.pid && l.signal === 'SIGKILL'),
    'the death is logged',
  );
  assert.ok(
    lines.some((l) => l.msg === 'media-node.restarted' && l.pid === fresh.pid),
    'the restart is logged',
  );

  // A new channel, and the old one (placed on the dead node) again: both are placed on the new node.
  for (const channel of [2n, 1n]) {
    const again = await joinedClient(
      { wsUrl: stack.wsUrl, token: devToken(10n + channel, GUILD, [channel]) },
      GUILD,
      channel,
    );
    open.push(again.client);
    assert.ok(again.joined, `joined channel ${channel} after the restart`);
  }
});

test('the supervisor retries a node that fails to come up, with backoff, and stops cleanly (fake nodes)', async () => {
  const events: string[] = [];
  const log = createLogger({ level: 'info', write: (line: string) => void events.push(JSON.parse(line).msg) });
  let starts = 0;
  let kill: (() => void) | undefined;
  const fake = async (): Promise<SupervisedNode> => {
    starts++;
    if (starts === 2) throw new Error('port in use');
    let exit!: (v: { code: number | null; signal: NodeJS.Signals | null }) => void;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => (exit = r));
    kill = () => exit({ code: null, signal: 'SIGKILL' });
    return {
      pid: 1000 + starts,
      grpc: `fake:${starts}`,
      ready: {},
      exited,
      stop: async () => exit({ code: 0, signal: null }),
    };
  };
  const delays: number[] = [];
  const supervisor = await superviseMediaNode(fake, { log, sleep: async (ms) => void delays.push(ms) });
  const next = supervisor.nextStart();
  kill!();
  assert.equal((await next).pid, 1003, 'the failed second start was retried');
  assert.deepEqual(delays, [250, 500]);
  assert.deepEqual(events, ['media-node.died', 'media-node.restart-failed', 'media-node.restarted']);
  await supervisor.stop();
  assert.equal(supervisor.restarts, 1);
});
