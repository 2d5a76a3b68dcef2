// `npm run bench:abuse`: what an attack does to honest members, through the real local stack (local API Gateway
// in strict mode, the Lambda handler modules, dynalite, a real media node), in one run:
//   0. warm-up: one round of the honest work below, not counted; then the background request rate, idle.
//   1. quiet: HONEST honest members with real WebRTC (msc-node) join the channel one by one, consume each other,
//      talk for TALK_MS and leave, ROUNDS times: join latency (connect → JoinedChannel, transports up) and RTP
//      packets received, counted at their consumers; every join must be announced to those already there.
//   2. for each attack (bench/abuse/*.attack.ts, interface in bench/abuse/attack.ts): the same honest work while
//      the attack runs in the same channel; the attack says whether it was contained, the harness adds that every
//      honest join completed and was announced.
//   3. the attacker's cost: AWS requests (DynamoDB requests + @connections calls + client messages, each an API
//      Gateway message and a Lambda invocation + $connect/$disconnect invocations) counted at the local DynamoDB and
//      gateway during the attack's phase, minus the background (measured idle first: the reaper's sweeps) and the
//      honest work (the quiet phase's count beyond the background), per minute of attack and per token it used.
// Figures only (never asserted). Last line:
//   abuse: <n>/<m> attacks contained, honest join p95 <x> ms under attack vs <y> ms quiet, attacker cost <z> requests/min per token
// npm run bench:abuse [-- <attack name> …]     BENCH_ABUSE_HONEST=4 BENCH_ABUSE_ROUNDS=5 BENCH_ABUSE_TALK_MS=2000
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createLogger } from '../lib/log';
import { dynamoTotals, RequestCounter } from '../local/request-counter';
import { startLocalStack, type LocalStack } from '../local/stack';
import { joinWithMedia, type MediaJoined } from '../test/support/media-voice-client';
import { devToken } from '../test/support/tokens';
import type { Attack, AbuseTarget } from './abuse/attack';
import { summarize } from './stats';

process.env.LOG_LEVEL ??= 'warn';
const HONEST = Number(process.env.BENCH_ABUSE_HONEST ?? 4);
const ROUNDS = Number(process.env.BENCH_ABUSE_ROUNDS ?? 5);
const TALK_MS = Number(process.env.BENCH_ABUSE_TALK_MS ?? 2_000);
/** A join not answered (or not announced to the others) within this long counts as failed, at this latency. */
const JOIN_GIVE_UP_MS = 20_000;
const GUILD = 4242n;
/** How long the background rate is measured with nobody connected. */
const IDLE_MS = Number(process.env.BENCH_ABUSE_IDLE_MS ?? 10_000);
let idleRate = 0;

interface Phase {
  joinMs: number[];
  failedJoins: number;
  unannounced: number;
  packets: number;
  expectedPackets: number;
  requests: number;
  ms: number;
}

async function loadAttacks(only: string[]): Promise<Attack[]> {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'abuse');
  const attacks: Attack[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.attack.ts'))
    .sort()) {
    const attack = ((await import(pathToFileURL(join(dir, file)).href)) as { default: Attack }).default;
    if (only.length === 0 || only.includes(attack.name)) attacks.push(attack);
  }
  return attacks;
}

function requestsSoFar(counter: RequestCounter): number {
  const g = counter.gateway;
  return dynamoTotals(counter.dynamo).requests + g.post + g.get + g.delete + g.messagesIn + g.connect + g.disconnect;
}

let nextUser = 10_000n;

/** ROUNDS rounds of HONEST members joining one by one, talking, and leaving. */
async function honestWork(
  stack: LocalStack,
  channel: bigint,
  rounds = ROUNDS,
): Promise<Omit<Phase, 'requests' | 'ms'>> {
  const phase = { joinMs: [] as number[], failedJoins: 0, unannounced: 0, packets: 0, expectedPackets: 0 };
  for (let round = 0; round < rounds; round++) {
    const members: { media: MediaJoined; user: string }[] = [];
    for (let i = 0; i < HONEST; i++) {
      const user = nextUser++;
      const started = Date.now();
      let media: MediaJoined;
      try {
        media = await Promise.race([
          joinWithMedia({ wsUrl: stack.wsUrl, token: devToken(user, GUILD, [channel]) }, GUILD, channel),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('join timed out')), JOIN_GIVE_UP_MS)),
        ]);
      } catch {
        phase.failedJoins++;
        phase.joinMs.push(JOIN_GIVE_UP_MS);
        continue;
      }
      phase.joinMs.push(Date.now() - started);
      for (const other of media.joined.otherUsers) await media.consume(other).catch(() => undefined);
      // Everyone already here is told (UserJoined, in order after anyone else who joined meanwhile) and consumes it.
      // An attacker's own joins and leaves in the channel (UserJoined/UserLeft of its sessions) may come in between.
      for (const member of members) {
        try {
          const deadline = Date.now() + JOIN_GIVE_UP_MS;
          for (;;) {
            const frame = await member.media.client.next(Math.max(1, deadline - Date.now()));
            if (frame.kind !== 'response' || frame.response.message?.$case !== 'userJoined') continue;
            const told = frame.response.message.value;
            await member.media.consume(told.data!).catch(() => undefined);
            if (told.data?.userId === user) break;
          }
        } catch {
          phase.unannounced++;
        }
      }
      members.push({ media, user: String(user) });
    }
    // Everyone talks at once for TALK_MS; each honest member should receive every other honest member's packets.
    const received = () =>
      members.map(({ media }) => members.reduce((sum, other) => sum + (media.received.get(other.user) ?? 0), 0));
    const before = received();
    const stops = members.map(({ media }) => media.speak());
    await new Promise((r) => setTimeout(r, TALK_MS));
    for (const stop of stops) stop();
    await new Promise((r) => setTimeout(r, 300));
    received().forEach((n, i) => {
      phase.packets += n - before[i]!;
    });
    phase.expectedPackets += members.length * (members.length - 1) * Math.round(TALK_MS / 20);
    for (const { media } of members) {
      for (const t of media.transports) t.close();
      media.client.close();
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return phase;
}

async function main() {
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const attacks = await loadAttacks(only);
  const counter = new RequestCounter();
  const stack = await startLocalStack({
    port: 0,
    strict: true,
    counter,
    logger: createLogger({ level: 'warn' }),
    mediaNode: { forwardLogs: false },
  });
  const phases: { name: string; phase: Phase; contained?: boolean; detail?: string; tokens?: number }[] = [];
  try {
    console.log(
      `# bench:abuse — ${HONEST} honest members × ${ROUNDS} rounds per phase, talking ${TALK_MS} ms; attacks: ${attacks.map((a) => a.name).join(', ')}`,
    );
    // Warm-up (not counted): the first joins load the handler modules, the media node's first router, msc-node.
    await honestWork(stack, 999n, 1);
    await new Promise((r) => setTimeout(r, 3_000)); // its leaves settle
    // Background (the reaper's sweeps, heartbeats): requests per ms with nobody connected.
    const idleStart = requestsSoFar(counter);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    idleRate = (requestsSoFar(counter) - idleStart) / IDLE_MS;
    console.log(
      `idle                 ${(idleRate * 60_000).toFixed(1)} AWS requests/min in the background (the reaper's sweeps)`,
    );
    let channel = 1n;
    const run = async (name: string, attack?: Attack) => {
      const ch = channel++;
      const target: AbuseTarget = {
        stack,
        wsUrl: stack.wsUrl,
        guild: GUILD,
        channel: ch,
        token: (user, channels = []) => devToken(user, GUILD, [ch, ...channels]),
        newUser: () => nextUser++,
        note: (line) => console.log(`#   ${name}: ${line}`),
      };
      const startedAt = Date.now();
      const before = requestsSoFar(counter);
      const running = attack ? await attack.start(target) : undefined;
      const work = await honestWork(stack, ch);
      const verdict = running ? await running.stop() : undefined;
      const phase: Phase = { ...work, requests: requestsSoFar(counter) - before, ms: Date.now() - startedAt };
      phases.push({
        name,
        phase,
        contained: verdict?.contained && work.failedJoins === 0 && work.unannounced === 0,
        detail: verdict?.detail,
        tokens: running?.tokens,
      });
      const s = summarize(phase.joinMs);
      console.log(
        `${name.padEnd(20)} honest joins n=${s.n} p50 ${s.p50.toFixed(0)} p95 ${s.p95.toFixed(0)} max ${s.max.toFixed(0)} ms, ` +
          `${work.failedJoins} failed, ${work.unannounced} not announced; packets received ${phase.packets}/${phase.expectedPackets}; ` +
          `${phase.requests} AWS requests in ${(phase.ms / 1000).toFixed(1)} s` +
          (verdict ? `; ${verdict.contained ? 'contained' : 'NOT contained'}: ${verdict.detail}` : ''),
      );
    };
    await run('quiet');
    for (const attack of attacks) {
      console.log(`# ${attack.name}: ${attack.description}`);
      await run(attack.name, attack);
    }
  } finally {
    await stack.close();
  }

  const quiet = phases[0]!.phase;
  const attacked = phases.slice(1);
  const quietP95 = summarize(quiet.joinMs).p95;
  const underP95 = summarize(attacked.flatMap((p) => p.phase.joinMs)).p95;
  // The honest work costs the same in every phase: what the quiet phase counted beyond the background.
  const honestRequests = quiet.requests - idleRate * quiet.ms;
  const costs = attacked.map(({ name, phase, tokens }) => {
    const extra = Math.max(0, phase.requests - idleRate * phase.ms - honestRequests);
    const perMinutePerToken = extra / (phase.ms / 60_000) / Math.max(1, tokens ?? 1);
    console.log(
      `# ${name}: attacker cost ${extra.toFixed(0)} extra requests over ${(phase.ms / 1000).toFixed(1)} s with ${tokens} tokens = ${perMinutePerToken.toFixed(1)} requests/min per token; ` +
        `honest join p95 ${summarize(phase.joinMs).p95.toFixed(0)} ms (×${(summarize(phase.joinMs).p95 / quietP95).toFixed(2)} quiet), packets ${(phase.packets / Math.max(1, quiet.packets)).toFixed(2)} × quiet`,
    );
    return perMinutePerToken;
  });
  const contained = attacked.filter((p) => p.contained).length;
  console.log(
    `abuse: ${contained}/${attacked.length} attacks contained, honest join p95 ${underP95.toFixed(0)} ms under attack vs ${quietP95.toFixed(0)} ms quiet, attacker cost ${Math.max(0, ...costs).toFixed(1)} requests/min per token`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
