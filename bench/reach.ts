// npm run bench:reach (root: the network lab needs ip netns and iptables). Figures, never assertions:
//   - per network profile (test/support/netlab.ts), a participant whose Chromium runs inside the profile's
//     namespace joins with one in the root namespace: time from its click to its first inbound audio packet,
//     and the rung its send transport uses (getStats, SDK getMediaPaths);
//   - at 0/5/10/20 % random loss each way, the root listener's concealment ratio of the lab participant's audio
//     (getStats inbound-rtp: Δ concealedSamples / Δ totalSamplesReceived over a window) with the loss defaults
//     (Opus in-band FEC on) and with them off (FEC off), in the same run.
// Last line: reach: <k>/7 profiles heard, tcp443-only first audio <x> ms via <rung>, 10% loss concealed <y>% (defaults) vs <z>% (off)
import type { Browser } from 'playwright-core';
import { createLogger } from '../lib/log';
import { DevIssuer } from '../local/dev-issuer';
import { startLocalStack, type LocalStack } from '../local/stack';
import { buildWeb } from '../web/build';
import { createLab, labUnavailable, PROFILES, type Lab, type Profile } from '../test/support/netlab';
import { CHROMIUM_PATH, launchChromium } from '../test/e2e/support/chromium';
import { Participant } from '../test/e2e/support/participant';

const GUILD = '9223372036854775813';
const LAB_USER = '9007199254740993';
const ROOT_USER = '9007199254740995';
const WINDOW_MS = Number(process.env.REACH_WINDOW_MS ?? 8_000);
const LOSSES = [0, 5, 10, 20];

type Stats = { userId: bigint; packetsReceived: number; concealedSamples: number; totalSamplesReceived: number };
type Demo = { harmonyVoiceDemo: { client: { getReceiveStats(): Promise<Stats[]>; getMediaPaths(): Promise<{ send?: { rung: string } }> } } };

async function samples(p: Participant, from: string): Promise<{ concealed: number; total: number }> {
  return p.page.evaluate(async (from) => {
    const s = (await (window as unknown as Demo).harmonyVoiceDemo.client.getReceiveStats()).find((x) => x.userId.toString() === from);
    return { concealed: s?.concealedSamples ?? 0, total: s?.totalSamplesReceived ?? 0 };
  }, from);
}

interface Run { heard: boolean; firstAudioMs?: number; rung?: string; concealedPercent?: number; error?: string }

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
      port: 0, host: hub.hostIp, strict: true, logger: createLogger({ level: 'error' }), issuer,
      handlerEnv: { TOKEN_JWKS_URL: '', TOKEN_JWKS: JSON.stringify(issuer.jwks()) },
      mediaNode: { forwardLogs: false, env: { MEDIA_LISTEN_IP: hub.hostIp, MEDIA_ICE_TCP_PORT: '443' } },
    });
    const secure = `--unsafely-treat-insecure-origin-as-secure=${stack.url}`;
    rootBrowser = await launchChromium([secure]);
    const s = stack;
    const run = async (profile: Profile, options: { lossPercent?: number; fec?: boolean; measure?: boolean }): Promise<Run> => {
      const lab: Lab = createLab({ profile, signallingPort: Number(new URL(s.url).port), lossPercent: options.lossPercent });
      let labBrowser: Browser | undefined;
      const people: Participant[] = [];
      try {
        labBrowser = await launchChromium([secure], { executablePath: lab.wrapper(CHROMIUM_PATH) });
        const target = { baseUrl: s.url, guild: GUILD, channel: String(channel++), variant: 'base64' as const, server: s.wsUrl };
        const inLab = new Participant(profile, labBrowser, { ...target, user: LAB_USER, query: options.fec === false ? { fec: '0' } : {} });
        const inRoot = new Participant('root', rootBrowser!, { ...target, user: ROOT_USER });
        people.push(inLab, inRoot);
        await Promise.all(people.map((p) => p.open()));
        await inRoot.clickJoin();
        await inRoot.waitJoined();
        const first = inLab.firstPacketTimes([ROOT_USER], 30_000);
        const clickedAt = await inLab.page.evaluate(() => performance.now());
        await inLab.clickJoin();
        await inLab.waitJoined(30_000);
        const [heardAt] = await Promise.all([first.then((f) => f[ROOT_USER]!), inRoot.firstPacketTimes([LAB_USER], 30_000)]);
        await Promise.all([inLab.hears([ROOT_USER], 20_000), inRoot.hears([LAB_USER], 20_000)]);
        const rung = (await inLab.page.evaluate(() => (window as unknown as Demo).harmonyVoiceDemo.client.getMediaPaths())).send?.rung;
        let concealedPercent: number | undefined;
        if (options.measure) {
          const a = await samples(inRoot, LAB_USER);
          await new Promise((r) => setTimeout(r, WINDOW_MS));
          const b = await samples(inRoot, LAB_USER);
          concealedPercent = b.total > a.total ? (100 * (b.concealed - a.concealed)) / (b.total - a.total) : undefined;
        }
        return { heard: true, firstAudioMs: Math.round(heardAt - clickedAt), rung, concealedPercent };
      } catch (err) {
        return { heard: false, error: (err as Error).message.split('\n')[0] };
      } finally {
        await Promise.all(people.map((p) => p.close()));
        await labBrowser?.close().catch(() => {});
        lab.close();
      }
    };

    console.log('profile          heard  first audio  rung');
    const byProfile = new Map<Profile, Run>();
    for (const profile of PROFILES) {
      const r = await run(profile, {});
      byProfile.set(profile, r);
      console.log(`${profile.padEnd(16)} ${r.heard ? 'yes' : 'NO '}    ${r.firstAudioMs !== undefined ? `${r.firstAudioMs} ms`.padStart(8) : '       -'}     ${r.rung ?? r.error ?? '-'}`);
    }

    console.log(`\nconcealment (root listener ← lab sender, ${WINDOW_MS} ms window; defaults = Opus in-band FEC on, off = FEC off)`);
    console.log('loss   defaults   off');
    const concealed = new Map<number, { on?: number; off?: number }>();
    for (const loss of LOSSES) {
      const profile: Profile = loss === 0 ? 'nat' : 'loss10';
      const on = await run(profile, { lossPercent: loss, measure: true });
      const off = await run(profile, { lossPercent: loss, fec: false, measure: true });
      concealed.set(loss, { on: on.concealedPercent, off: off.concealedPercent });
      const fmt = (r: Run) => (r.concealedPercent !== undefined ? `${r.concealedPercent.toFixed(1)} %` : r.error ?? '-');
      console.log(`${String(loss).padStart(2)} %   ${fmt(on).padStart(8)}   ${fmt(off).padStart(8)}`);
    }

    const heard = [...byProfile.values()].filter((r) => r.heard).length;
    const tcp443 = byProfile.get('tcp443-only');
    const ten = concealed.get(10) ?? {};
    const pct = (v?: number) => (v === undefined ? '?' : v.toFixed(1));
    console.log(`reach: ${heard}/${PROFILES.length} profiles heard, tcp443-only first audio ${tcp443?.firstAudioMs ?? '?'} ms via ${tcp443?.rung ?? 'none'}, 10% loss concealed ${pct(ten.on)}% (defaults) vs ${pct(ten.off)}% (off)`);
  } finally {
    await rootBrowser?.close().catch(() => {});
    await stack?.close();
    hub.close();
  }
}

main().then(() => process.exit(0), (err: Error) => {
  console.error(err);
  process.exit(1);
});
