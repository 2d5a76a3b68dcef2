// `npm run bench:resume [-- --trials 20]`: resume.v1 in Chromium through the strict local stack (figures, never
// assertions). Three people talk (the demo page, Chromium's fake microphone); per trial one of them loses its
// socket. Audio gaps are the longest time an inbound-rtp packet counter stood still, sampled every 50 ms.
//   drop               the gateway cuts the socket (no close frame); the SDK resumes: time from the cut to
//                      `resumed`, and the gap the others hear from that person (and it hears from them)
//   make-before-break  the SDK's connection cap shortened to 2.5 s: it switches sockets before it; the gap at
//                      the switching page and at the others
//   address change     a cut + resume with an ICE restart on both transports (Chromium cannot change its own
//                      address here: this measures the restart, which a changed address needs): the gap
//   rejoin baseline    the same cut without resume.v1: the SDK rejoins (new transports/producer/consumers);
//                      the gap the others hear from that person
// Ends with: resume: drop p95 … ms, others' gap … ms, make-before-break gap … ms, address change p95 … ms, rejoin baseline p95 … ms
import { allConnectionRecords } from '../test/support/state-table';
import { parseArgs } from 'node:util';
import type { Browser } from 'playwright-core';
import { STATE_TABLE } from '../data/tables';
import { socketOf } from '../functions/voice/ports';
import { createLogger } from '../lib/log';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION } from '../local/dynamo';
import { startLocalStack, type LocalStack } from '../local/stack';
import { createDocumentClient } from '../routing/dynamo';
import { launchChromium } from '../test/e2e/support/chromium';
import { Participant } from '../test/e2e/support/participant';
import { buildWeb } from '../web/build';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '20' } } });
const TRIALS = Math.max(1, Number(values.trials));
const GUILD = '9223372036854775813';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
process.env.LOG_LEVEL ??= 'warn';

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const fmt = (n: number) => (Number.isFinite(n) ? String(Math.round(n)) : 'n/a');
const summary = (label: string, v: number[]) =>
  console.log(`  ${label}: n=${v.length} p50 ${fmt(percentile(v, 50))} ms, p95 ${fmt(percentile(v, 95))} ms, max ${fmt(Math.max(...v))} ms`);

let browser: Browser;
const pages: Participant[] = [];

async function people(stack: LocalStack, channel: string, names: [string, string][], query: Record<string, string>): Promise<Participant[]> {
  const group = names.map(([name, user]) => new Participant(name, browser, {
    baseUrl: stack.url, user, guild: GUILD, channel, variant: 'base64', server: stack.wsUrl, query,
  }));
  pages.push(...group);
  await Promise.all(group.map((p) => p.open()));
  for (const p of group) {
    await p.clickJoin();
    await p.waitJoined();
  }
  await Promise.all(group.map((p) => p.hears(group.filter((o) => o !== p).map((o) => o.target.user), 30_000)));
  return group;
}

async function socketOfUser(stack: LocalStack, user: string, channel: string): Promise<string> {
  const db = createDocumentClient({ endpoint: stack.dynamo.endpoint, region: LOCAL_AWS_REGION, credentials: LOCAL_AWS_CREDENTIALS });
  try {
    const record = (await allConnectionRecords(db, stack.dynamo.tables[STATE_TABLE.envVar]!)).find((r) => r.userId === user && r.channelId === channel && r.state === 'joined');
    if (!record) throw new Error(`no joined session of ${user}`);
    return socketOf(record);
  } finally {
    db.destroy();
  }
}

async function countOf(p: Participant, type: string): Promise<number> {
  return (await p.events()).filter((e) => e.type === type).length;
}

async function waitCount(p: Participant, type: string, above: number, timeoutMs = 30_000): Promise<void> {
  await p.page.waitForFunction(({ type, above }) => (window as unknown as { e2eEvents: { type: string }[] }).e2eEvents.filter((e) => e.type === type).length > above,
    { type, above }, { timeout: timeoutMs });
}

/** Longest stall of `user`'s audio at `p` inside [from, to] (wall clock), from a finished stall watch. */
function gapIn(watch: Awaited<ReturnType<Participant['stopStallWatch']>>, user: string | undefined, from: number, to: number): number {
  let worst = 0;
  for (const s of watch.stalls) if ((user === undefined || s.userId === user) && s.wallAt >= from && s.wallAt - s.ms <= to) worst = Math.max(worst, s.ms);
  return worst;
}

/** One cut-and-recover trial: returns time to recovery (or undefined) and the gaps. */
async function cutTrial(stack: LocalStack, group: Participant[], victim: Participant, channel: string, recoveredBy: string): Promise<{ recoveredMs: number; othersGap: number; ownGap: number }> {
  const others = group.filter((p) => p !== victim);
  await Promise.all(group.map((p) => p.startStallWatch(50)));
  await sleep(400);
  const before = await countOf(victim, recoveredBy);
  const socket = await socketOfUser(stack, victim.target.user, channel);
  const cutAt = Date.now();
  if (!stack.gateway.cut(socket)) throw new Error('cut failed');
  await waitCount(victim, recoveredBy, before);
  const recovered = (await victim.events()).filter((e) => e.type === recoveredBy)[before]!;
  // Rejoin: audio is back when the others receive the new consumer's packets; wait for that too.
  await sleep(recoveredBy === 'joined' ? 2_500 : 1_200);
  const watches = await Promise.all(group.map((p) => p.stopStallWatch()));
  const to = Date.now();
  const othersGap = Math.max(...others.map((o) => gapIn(watches[group.indexOf(o)]!, victim.target.user, cutAt - 50, to)));
  const ownGap = gapIn(watches[group.indexOf(victim)]!, undefined, cutAt - 50, to);
  return { recoveredMs: (recovered.wall ?? to) - cutAt, othersGap, ownGap };
}

async function main(): Promise<void> {
  await buildWeb();
  browser = await launchChromium();
  const stack = await startLocalStack({ port: 0, strict: true, reaperIntervalMs: 1_000, mediaNode: { forwardLogs: false }, logger: createLogger({ level: 'warn' }) });
  try {
    // (a) socket-only drop
    const a = await people(stack, '1', [['a1', '9007199254740993'], ['a2', '9007199254740995'], ['a3', '12345678901234567890']], { resume: '1' });
    const drop = { recovered: [] as number[], others: [] as number[], own: [] as number[] };
    for (let i = 0; i < TRIALS; i++) {
      const r = await cutTrial(stack, a, a[i % 3]!, '1', 'resumed');
      drop.recovered.push(r.recoveredMs);
      drop.others.push(r.othersGap);
      drop.own.push(r.ownGap);
    }
    console.log('drop (socket cut, resumed):');
    summary('cut → resumed', drop.recovered);
    summary('gap the others hear', drop.others);
    summary('gap at the resumed client', drop.own);
    await Promise.all(a.map((p) => p.close()));

    // (c) address change: resume with an ICE restart on both transports
    const c = await people(stack, '3', [['c1', '9007199254741011'], ['c2', '9007199254741013'], ['c3', '9007199254741015']], { resume: '1', iceRestart: '1' });
    const address = { recovered: [] as number[], others: [] as number[], own: [] as number[] };
    for (let i = 0; i < TRIALS; i++) {
      const r = await cutTrial(stack, c, c[i % 3]!, '3', 'resumed');
      address.recovered.push(r.recoveredMs);
      address.others.push(r.othersGap);
      address.own.push(r.ownGap);
    }
    const restarted = (await Promise.all(c.map(async (p) => (await p.events()).filter((e) => e.type === 'resumed').length))).reduce((x, y) => x + y, 0);
    console.log(`address change (resume with ICE restart; ${restarted} resumes):`);
    summary('cut → resumed (ICE restarted)', address.recovered);
    summary('gap at the resumed client (audio back)', address.own);
    summary('gap the others hear', address.others);
    await Promise.all(c.map((p) => p.close()));

    // (b) make-before-break: the SDK's cap shortened to 2.5 s (renews 625 ms before it)
    const b = await people(stack, '2', [['b1', '9007199254741001'], ['b2', '9007199254741003'], ['b3', '9007199254741005']], { resume: '1', maxConnectionMs: '2500' });
    await Promise.all(b.map((p) => p.startStallWatch(50)));
    const startCounts = await Promise.all(b.map((p) => countOf(p, 'resumed')));
    const deadline = Date.now() + 120_000;
    let switches = 0;
    while (switches < TRIALS && Date.now() < deadline) {
      await sleep(500);
      switches = (await Promise.all(b.map((p) => countOf(p, 'resumed')))).reduce((x, y, i) => x + y - startCounts[i]!, 0);
    }
    await sleep(800);
    const watches = await Promise.all(b.map((p) => p.stopStallWatch()));
    const mbb: number[] = [];
    for (const [i, p] of b.entries()) {
      for (const e of (await p.events()).filter((x) => x.type === 'resumed' && x.makeBeforeBreak)) {
        const to = e.wall!;
        const from = to - (e.afterMs ?? 0) - 50;
        mbb.push(gapIn(watches[i]!, undefined, from, to + 500)); // at the switching page
        for (const [j, o] of b.entries()) if (j !== i) mbb.push(gapIn(watches[j]!, p.target.user, from, to + 500)); // at the others
      }
    }
    const rejoins = (await Promise.all(b.map((p) => countOf(p, 'closed')))).reduce((x, y) => x + y, 0);
    console.log(`make-before-break (${switches} switches, ${rejoins} lost streams):`);
    summary('gap around a switch (switching page and the others)', mbb);
    await Promise.all(b.map((p) => p.close()));

    // (d) baseline: the same cut without resume.v1 → the SDK rejoins
    const d = await people(stack, '4', [['d1', '9007199254741021'], ['d2', '9007199254741023'], ['d3', '9007199254741025']], {});
    const rejoin = { recovered: [] as number[], others: [] as number[] };
    for (let i = 0; i < TRIALS; i++) {
      const r = await cutTrial(stack, d, d[i % 3]!, '4', 'joined');
      rejoin.recovered.push(r.recoveredMs);
      rejoin.others.push(r.othersGap);
    }
    console.log('rejoin baseline (no resume.v1):');
    summary('cut → joined again', rejoin.recovered);
    summary('gap the others hear', rejoin.others);
    await Promise.all(d.map((p) => p.close()));

    console.log(`resume: drop p95 ${fmt(percentile(drop.recovered, 95))} ms, others' gap ${fmt(percentile(drop.others, 95))} ms, ` +
      `make-before-break gap ${fmt(percentile(mbb, 95))} ms, address change p95 ${fmt(percentile(address.own, 95))} ms, ` +
      `rejoin baseline p95 ${fmt(percentile(rejoin.others, 95))} ms`);
  } finally {
    await Promise.all(pages.map((p) => p.close()));
    await browser.close().catch(() => {});
    await stack.close();
  }
}

await main();
