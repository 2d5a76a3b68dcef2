// npm run bench:reach (root: the network lab needs ip netns and iptables). Figures, never assertions:
//   - per network profile (test/support/netlab.ts), a participant whose Chromium runs inside the profile's
//     namespace joins with one in the root namespace: time from its click to its first inbound audio packet,
//     and the rung its send transport uses (getStats, SDK getMediaPaths);
//   - at 0/5/10/20 % random loss each way, the concealment ratio of both listeners (the root one hearing the lab
//     sender: uplink loss; the lab one hearing the root sender: downlink loss), pooled (getStats inbound-rtp:
//     Δ concealedSamples / Δ totalSamplesReceived over a window), with the loss defaults and with them off (Opus
//     in-band FEC off, NACK off), in the same run; at 10 % each combination of FEC and NACK, REACH_REPEATS times
//     (default 3), with the lab sender's NACKs received and packets retransmitted (is NACK live at all?).
//   REACH_ONLY=loss skips the profiles.
// Also the relays' cost per relayed user-hour on AWS (infra/relay/cost.ts: a model, its assumptions printed).
// Last line: reach: <k>/7 profiles heard, tcp443-only first audio <x> ms via <rung>, 10% loss concealed <y>% (defaults) vs <z>% (off)
import type { Browser } from 'playwright-core';
import { createLogger } from '../lib/log';
import { DevIssuer } from '../local/dev-issuer';
import { startLocalStack, type LocalStack } from '../local/stack';
import { buildWeb } from '../web/build';
import { DEFAULT_AUDIO_NACK } from '../web/src/voice-client';
import { relayCostPerUserHour, RELAY_COST_DEFAULTS } from '../infra/relay/cost';
import { createLab, labUnavailable, PROFILES, type Lab, type Profile } from '../test/support/netlab';
import { CHROMIUM_PATH, launchChromium } from '../test/e2e/support/chromium';
import { Participant } from '../test/e2e/support/participant';

const GUILD = '9223372036854775813';
const LAB_USER = '9007199254740993';
const ROOT_USER = '9007199254740995';
const WINDOW_MS = Number(process.env.REACH_WINDOW_MS ?? 8_000);
const LOSSES = (process.env.REACH_LOSSES ?? '0,5,10,20').split(',').map(Number);
const REPEATS = Number(process.env.REACH_REPEATS ?? 3);
interface Variant {
  name: string;
  fec: boolean;
  nack: boolean;
}
const VARIANTS: Variant[] = [
  { name: 'FEC+NACK', fec: true, nack: true },
  { name: 'FEC', fec: true, nack: false },
  { name: 'NACK', fec: false, nack: true },
  { name: 'off', fec: false, nack: false },
];
const DEFAULTS: Variant = VARIANTS.find((v) => v.fec && v.nack === DEFAULT_AUDIO_NACK)!;
const OFF: Variant = VARIANTS.find((v) => !v.fec && !v.nack)!;

type Stats = {
  userId: bigint;
  packetsReceived: number;
  concealedSamples: number;
  totalSamplesReceived: number;
  nackCount: number;
};
type SendStats = { packetsSent: number; nackCount: number; retransmittedPacketsSent: number };
type Demo = {
  harmonyVoiceDemo: {
    client: {
      getReceiveStats(): Promise<Stats[]>;
      getSendStats(): Promise<SendStats | undefined>;
      getMediaPaths(): Promise<{ send?: { rung: string } }>;
    };
  };
};

async function sendStats(p: Participant): Promise<SendStats> {
  return (
    (await p.page.evaluate(() => (window as unknown as Demo).harmonyVoiceDemo.client.getSendStats())) ?? {
      packetsSent: 0,
      nackCount: 0,
      retransmittedPacketsSent: 0,
    }
  );
}

async function samples(p: Participant, from: string): Promise<{ concealed: number; total: number; nacks: number }> {
  return p.page.evaluate(async (from) => {
    const s = (await (window as unknown as Demo).harmonyVoiceDemo.client.getReceiveStats()).find(
      (x) => x.userId.toString() === from,
    );
    return { concealed: s?.concealedSamples ?? 0, total: s?.totalSamplesReceived ?? 0, nacks: s?.nackCount ?? 0 };
  }, from);
}

interface Run {
  heard: boolean;
  firstAudioMs?: number;
  rung?: string;
  concealed?: number;
  total?: number;
  nacks?: number;
  retransmitted?: number;
  listenerNacks?: number;
  error?: string;
}

async function main(): Promise<void> {
  const why = labUnavailable();
  if (why) throw new Error(`bench:reach: ${why}`);
  await buildWeb();
  const hub = createLab({ profile: 'open' });
  const issuer = DevIssuer.load();
  let stack: LocalStack | undefined;
  let rootBrowser: Browser | undefined;
  let channel = 3000;
  try {
    stack = await startLocalStack({
      port: 0,
      host: hub.hostIp,
      strict: true,
      logger: createLogger({ level: 'error' }),
      issuer,
      handlerEnv: { TOKEN_JWKS_URL: '', TOKEN_JWKS: JSON.stringify(issuer.jwks()) },
      mediaNode: { forwardLogs: false, env: { MEDIA_LISTEN_IP: hub.hostIp, MEDIA_ICE_TCP_PORT: '443' } },
    });
    const secure = `--unsafely-treat-insecure-origin-as-secure=${stack.url}`;
    rootBrowser = await launchChromium([secure]);
    const s = stack;
    const run = async (
      profile: Profile,
      options: { lossPercent?: number; variant?: Variant; measure?: boolean },
    ): Promise<Run> => {
      const lab: Lab = createLab({
        profile,
        signallingPort: Number(new URL(s.url).port),
        lossPercent: options.lossPercent,
      });
      let labBrowser: Browser | undefined;
      const people: Participant[] = [];
      try {
        labBrowser = await launchChromium([secure], { executablePath: lab.wrapper(CHROMIUM_PATH) });
        const target = {
          baseUrl: s.url,
          guild: GUILD,
          channel: String(channel++),
          variant: 'base64' as const,
          server: s.wsUrl,
        };
        const v = options.variant;
        const query: Record<string, string> = v ? { fec: v.fec ? '1' : '0', nack: v.nack ? '1' : '0' } : {};
        const inLab = new Participant(profile, labBrowser, { ...target, user: LAB_USER, query });
        const inRoot = new Participant('root', rootBrowser!, { ...target, user: ROOT_USER, query });
        people.push(inLab, inRoot);
        await Promise.all(people.map((p) => p.open()));
        await inRoot.clickJoin();
        await inRoot.waitJoined();
        const first = inLab.firstPacketTimes([ROOT_USER], 30_000);
        first.catch(() => {}); // awaited below; a join that fails first must not leave it unhandled
        const clickedAt = await inLab.page.evaluate(() => performance.now());
        await inLab.clickJoin();
        await inLab.waitJoined(30_000);
        const [heardAt] = await Promise.all([
          first.then((f) => f[ROOT_USER]!),
          inRoot.firstPacketTimes([LAB_USER], 30_000),
        ]);
        await Promise.all([inLab.hears([ROOT_USER], 20_000), inRoot.hears([LAB_USER], 20_000)]);
        const rung = (
          await inLab.page.evaluate(() => (window as unknown as Demo).harmonyVoiceDemo.client.getMediaPaths())
        ).send?.rung;
        if (!options.measure) return { heard: true, firstAudioMs: Math.round(heardAt - clickedAt), rung };
        const [up0, down0, sent0] = await Promise.all([
          samples(inRoot, LAB_USER),
          samples(inLab, ROOT_USER),
          sendStats(inLab),
        ]);
        await new Promise((r) => setTimeout(r, WINDOW_MS));
        const [up1, down1, sent1] = await Promise.all([
          samples(inRoot, LAB_USER),
          samples(inLab, ROOT_USER),
          sendStats(inLab),
        ]);
        return {
          heard: true,
          firstAudioMs: Math.round(heardAt - clickedAt),
          rung,
          concealed: up1.concealed - up0.concealed + down1.concealed - down0.concealed,
          total: up1.total - up0.total + down1.total - down0.total,
          nacks: sent1.nackCount - sent0.nackCount,
          retransmitted: sent1.retransmittedPacketsSent - sent0.retransmittedPacketsSent,
          listenerNacks: up1.nacks - up0.nacks + down1.nacks - down0.nacks,
        };
      } catch (err) {
        const tails = process.env.REACH_DEBUG ? `\n${people.map((p) => p.tail(20)).join('\n')}` : '';
        return { heard: false, error: (err as Error).message.split('\n')[0] + tails };
      } finally {
        await Promise.all(people.map((p) => p.close()));
        await labBrowser?.close().catch(() => {});
        lab.close();
      }
    };

    const byProfile = new Map<Profile, Run>();
    if (process.env.REACH_ONLY !== 'loss') {
      console.log('profile          heard  first audio  rung');
      for (const profile of PROFILES) {
        const r = await run(profile, {});
        byProfile.set(profile, r);
        console.log(
          `${profile.padEnd(16)} ${r.heard ? 'yes' : 'NO '}    ${r.firstAudioMs !== undefined ? `${r.firstAudioMs} ms`.padStart(8) : '       -'}     ${r.rung ?? r.error ?? '-'}`,
        );
      }
    }

    console.log(
      `\nconcealment, both listeners pooled (${WINDOW_MS} ms windows; defaults = ${DEFAULTS.name}, off = FEC and NACK off)`,
    );
    /** Pooled concealment of a variant at a loss: Σ concealed / Σ total over `repeats` runs. */
    const measure = async (loss: number, variant: Variant, repeats: number) => {
      let concealed = 0;
      let total = 0;
      let nacks = 0;
      let retransmitted = 0;
      let listenerNacks = 0;
      const errors: string[] = [];
      for (let i = 0; i < repeats; i++) {
        const r = await run(loss === 0 ? 'nat' : 'loss10', { lossPercent: loss, variant, measure: true });
        if (r.error || !r.total) {
          errors.push(r.error ?? 'no samples');
          continue;
        }
        concealed += r.concealed!;
        total += r.total;
        nacks += r.nacks ?? 0;
        retransmitted += r.retransmitted ?? 0;
        listenerNacks += r.listenerNacks ?? 0;
      }
      return {
        percent: total > 0 ? (100 * concealed) / total : undefined,
        nacks,
        retransmitted,
        listenerNacks,
        errors,
      };
    };
    const pct = (v?: number) => (v === undefined ? '?' : v.toFixed(1));
    const concealed = new Map<number, { on?: number; off?: number }>();
    for (const loss of LOSSES) {
      const variants = loss === 10 ? VARIANTS : [DEFAULTS, OFF];
      const repeats = loss === 10 ? REPEATS : 1;
      const cells: string[] = [];
      for (const variant of variants) {
        const m = await measure(loss, variant, repeats);
        if (variant === DEFAULTS) concealed.set(loss, { ...concealed.get(loss), on: m.percent });
        if (variant === OFF) concealed.set(loss, { ...concealed.get(loss), off: m.percent });
        cells.push(
          `${variant.name} ${pct(m.percent)} %${variant.nack ? ` (listeners sent ${m.listenerNacks} NACKs; lab sender got ${m.nacks}, resent ${m.retransmitted})` : ''}${m.errors.length ? ` [${m.errors.length} failed: ${m.errors[0]}]` : ''}`,
        );
      }
      console.log(`${String(loss).padStart(2)} % loss (×${repeats}): ${cells.join(' · ')}`);
    }

    // The relays on AWS (infra/relay-stack.ts): a model with its assumptions (infra/relay/cost.ts), not a measurement.
    const cost = relayCostPerUserHour();
    const parts = Object.entries(cost.parts)
      .map(([k, v]) => `${k} $${v.toFixed(5)}`)
      .join(' + ');
    console.log(
      `\nrelay cost per relayed user-hour (AWS model, ${RELAY_COST_DEFAULTS.usersPerInstance} users per instance assumed): $${cost.perUserHour.toFixed(4)} = ${parts}`,
    );
    const heard = [...byProfile.values()].filter((r) => r.heard).length;
    const tcp443 = byProfile.get('tcp443-only');
    const ten = concealed.get(10) ?? {};
    console.log(
      `reach: ${heard}/${PROFILES.length} profiles heard, tcp443-only first audio ${tcp443?.firstAudioMs ?? '?'} ms via ${tcp443?.rung ?? 'none'}, 10% loss concealed ${pct(ten.on)}% (defaults) vs ${pct(ten.off)}% (off)`,
    );
  } finally {
    await rootBrowser?.close().catch(() => {});
    await stack?.close();
    hub.close();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
