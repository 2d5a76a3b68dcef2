// The handlers' logs and metrics through the real local stack (real handlers, dynalite, a real media node):
// Powertools log lines carry the Lambda context and correlation ids, metrics come out as CloudWatch Embedded Metric
// Format lines with the expected names, units and dimensions, the local summary sees the same samples, and no token
// or secret appears in any line written while the signalling flow runs (accepted, refused and failing paths).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DevIssuer, signingKey } from '../../local/dev-issuer';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { METRIC } from '../../lib/metrics';
import { joinedClient, sendJoin } from '../support/stack-flow';
import { VoiceTestClient } from '../support/voice-client';

const GUILD = 5n;
const CHANNEL = 9n;
const SERVICE = 'harmony-voice-signalling';

let stack: LocalStack;
let issuer: DevIssuer;
const written: string[] = [];
const tokens: string[] = [];
const restore: Array<() => void> = [];

/** Tees everything this process writes to stdout/stderr (the handlers, the stack, the forwarded media node). */
function capture(stream: NodeJS.WriteStream): void {
  const original = stream.write;
  stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return (original as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof stream.write;
  restore.push(() => (stream.write = original));
}

// Per write: the test runner's own (binary) reports share stdout and do not end in a newline.
const jsonLines = () =>
  written
    .flatMap((chunk) => chunk.split('\n'))
    .flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as Record<string, any>];
      } catch {
        return [];
      }
    });
const emfLines = () => jsonLines().filter((l) => l._aws);
const handlerLogLines = () => jsonLines().filter((l) => !l._aws && l.service === SERVICE);

function mint(user: bigint, claims: Record<string, unknown> = {}): Promise<string> {
  return issuer
    .mint({ user: String(user), guild: String(GUILD), channels: [String(CHANNEL)], claims })
    .then((t) => (tokens.push(t), t));
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The structure CloudWatch parses (Embedded Metric Format specification). */
function assertEmf(line: Record<string, any>): void {
  const aws = line._aws;
  assert.equal(typeof aws.Timestamp, 'number');
  assert.ok(Array.isArray(aws.CloudWatchMetrics) && aws.CloudWatchMetrics.length > 0);
  for (const directive of aws.CloudWatchMetrics) {
    assert.equal(typeof directive.Namespace, 'string');
    assert.ok(directive.Namespace.length > 0 && directive.Namespace.length <= 255);
    assert.ok(Array.isArray(directive.Dimensions));
    for (const set of directive.Dimensions) {
      assert.ok(Array.isArray(set) && set.length <= 30);
      for (const dim of set) assert.equal(typeof line[dim], 'string', `dimension ${dim} has a string value`);
    }
    assert.ok(Array.isArray(directive.Metrics) && directive.Metrics.length <= 100);
    for (const metric of directive.Metrics) {
      assert.equal(typeof metric.Name, 'string');
      assert.ok(['Count', 'Milliseconds'].includes(metric.Unit), `${metric.Name}: unit ${metric.Unit}`);
      const value = line[metric.Name];
      const values = Array.isArray(value) ? value : [value];
      assert.ok(
        values.length > 0 && values.every((v) => typeof v === 'number' && Number.isFinite(v)),
        `${metric.Name} has numeric values`,
      );
    }
  }
}

/** Every EMF sample of a metric: [{ value, unit, dimensions }]. */
function samples(name: string): { value: number; unit: string; dimensions: Record<string, string> }[] {
  return emfLines().flatMap((line) =>
    line._aws.CloudWatchMetrics.flatMap((d: any) =>
      d.Metrics.filter((m: any) => m.Name === name).flatMap((m: any) =>
        (Array.isArray(line[name]) ? line[name] : [line[name]]).map((value: number) => ({
          value,
          unit: m.Unit,
          dimensions: Object.fromEntries((d.Dimensions.flat() as string[]).map((k) => [k, line[k]])),
        })),
      ),
    ),
  );
}

before(async () => {
  capture(process.stdout);
  capture(process.stderr);
  issuer = new DevIssuer([signingKey(generateKeyPairSync('ed25519').privateKey)]);
  stack = await startLocalStack({
    port: 0,
    strict: true,
    reaperIntervalMs: 500,
    issuer,
    mediaNode: { forwardLogs: true },
    handlerEnv: { LOG_LEVEL: 'debug' },
  }); // debug lines are checked for secrets too
});
after(async () => {
  await stack?.close();
  restore.forEach((undo) => undo());
});

describe('handler telemetry through the local stack', () => {
  test('a join, a refused token, an out-of-order JoinChannel and a leave produce the metrics', async () => {
    const a = await joinedClient({ wsUrl: stack.wsUrl, token: await mint(1n) }, GUILD, CHANNEL);
    const b = await joinedClient({ wsUrl: stack.wsUrl, token: await mint(2n) }, GUILD, CHANNEL);
    await a.client.expect('userJoined');
    // JoinChannel before PrepareForJoinChannel: voice.out-of-order, counted as a join failure by identifier.
    const c = await VoiceTestClient.connect({ wsUrl: stack.wsUrl, token: await mint(3n) });
    sendJoin(c);
    assert.equal((await c.nextError()).identifier, 'voice.out-of-order');
    c.close();
    // A token for another audience: refused at $connect.
    await assert.rejects(
      VoiceTestClient.connect({ wsUrl: stack.wsUrl, token: await mint(4n, { aud: 'another-app' }) }),
      /401/,
    );
    b.client.close();
    await a.client.expect('userLeft');
    a.client.close();
    await until('three sessions ended', () => samples(METRIC.sessionsEnded).length >= 3);

    const lines = emfLines();
    assert.ok(lines.length > 0, 'EMF lines were written');
    lines.forEach(assertEmf);
    const namespaces = new Set(lines.flatMap((l) => l._aws.CloudWatchMetrics.map((d: any) => d.Namespace)));
    assert.deepEqual([...namespaces], ['HarmonyVoice']);

    const latency = samples(METRIC.joinLatency);
    assert.equal(latency.length, 2);
    assert.ok(latency.every((s) => s.unit === 'Milliseconds' && s.value >= 0 && s.dimensions.service === SERVICE));
    assert.equal(sum(METRIC.joins), 2);
    // Per history entry: a's join (JoinedChannel), b's join (JoinedChannel + UserJoined to a), b's leave (UserLeft to a);
    // a's own leave, with nobody left to tell, posts nothing.
    assert.deepEqual(
      samples(METRIC.fanOutSize).map((s) => [s.unit, s.value]),
      [
        ['Count', 1],
        ['Count', 2],
        ['Count', 1],
      ],
    );
    assert.equal(sum(METRIC.leaves), 2);
    assert.deepEqual(
      samples(METRIC.joinFailures).map((s) => s.dimensions),
      [{ service: SERVICE, Identifier: 'voice.out-of-order' }],
    );
    assert.deepEqual(
      samples(METRIC.connectsRefused).map((s) => s.dimensions),
      [{ service: SERVICE, Identifier: 'h.blank-session' }],
    );
    assert.equal(sum(METRIC.connects), 3);
    assert.deepEqual(
      samples(METRIC.sessionsEnded)
        .map((s) => s.dimensions.Reason)
        .sort(),
      ['disconnected', 'disconnected', 'disconnected'],
    );
    assert.equal(samples('ColdStart').length, 1, 'one cold start for the first invocation of this container (process)');

    // The local summary aggregates the same samples (and serves them).
    const summary = stack.metrics.snapshot();
    assert.equal(summary[METRIC.joins], 2);
    assert.equal(summary[`${METRIC.joinFailures}{Identifier=voice.out-of-order}`], 1);
    assert.equal((summary[METRIC.joinLatency] as { count: number }).count, 2);
    const served = (await (await fetch(`${stack.url}/dev/metrics`)).json()) as Record<string, unknown>;
    assert.equal(served[METRIC.joins], 2);
  });

  test('the reaper measures its sweep', async () => {
    await stack.runReaper();
    const sweeps = samples(METRIC.sweepDuration);
    assert.ok(sweeps.length >= 1 && sweeps.every((s) => s.unit === 'Milliseconds'));
  });

  test('handler log lines carry the Lambda context and the correlation ids', () => {
    const lines = handlerLogLines();
    const byMsg = (m: string) => lines.filter((l) => l.message === m);
    assert.ok(
      byMsg('voice.joined').length === 2 && byMsg('voice.connect-rejected').length === 1,
      lines.map((l) => l.message).join(', '),
    );
    for (const line of lines) {
      assert.match(line.function_request_id, /^[0-9a-f-]{36}$/, JSON.stringify(line));
      assert.ok(['connect', 'default', 'disconnect', 'reaper'].includes(line.function_name), line.function_name);
      assert.equal(typeof line.cold_start, 'boolean');
      assert.ok(['INFO', 'WARN', 'ERROR', 'DEBUG'].includes(line.level));
      if (line.function_name !== 'reaper') {
        assert.equal(typeof line.connectionId, 'string', JSON.stringify(line));
        assert.equal(typeof line.correlation_id, 'string', JSON.stringify(line));
      }
    }
    const cold = new Set(lines.filter((l) => l.cold_start).map((l) => l.function_request_id));
    assert.equal(cold.size, 1, 'only the first invocation of the container (here: the process) is a cold start');
    for (const joined of byMsg('voice.joined')) {
      assert.equal(joined.guildId, String(GUILD));
      assert.equal(joined.channelId, String(CHANNEL));
      assert.equal(typeof joined.userId, 'string');
      assert.equal(typeof joined.nodeId, 'string');
    }
    const rejected = byMsg('voice.connect-rejected')[0]!;
    assert.equal(rejected.identifier, 'h.blank-session');
    assert.match(rejected.humanMessage, /another audience/, 'a field named message is kept (renamed), not dropped');
    assert.ok(!lines.some((l) => /reserved key/.test(l.message)), 'no field collides with a Powertools key');
  });

  test('no token, signature, key or secret appears in anything written', () => {
    const text = written.join('');
    assert.ok(tokens.length >= 4);
    const secrets = [
      ...tokens,
      ...tokens.map((t) => t.split('.')[2]!),
      stack.env.MEDIA_NODE_SECRET!,
      issuer.current.privateKey.export({ format: 'jwk' }).d!,
      (issuer.current.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).split('\n')[1]!,
    ];
    for (const secret of secrets)
      assert.ok(secret.length >= 20 && !text.includes(secret), 'a secret was written to the logs');
    assert.ok(text.includes('voice.joined'), "the capture saw the handlers' lines");
  });
});

function sum(name: string): number {
  return samples(name).reduce((n, s) => n + s.value, 0);
}
