// Debian's Chromium driven by playwright-core: headless, fake microphone (a beeping tone), no
// permission prompts, and nothing that reaches the network on its own.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-gpu',
  // A reloaded page plays the others' audio without a new click (the first join is a click anyway).
  '--autoplay-policy=no-user-gesture-required',
  // Several participants share one browser; none of them may be throttled as a background page.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

/**
 * `launch` gives every browser a fresh temporary profile (user data dir), removed on close.
 * `extraArgs` add switches, e.g. `--use-file-for-fake-audio-capture=<wav>` for a recorded microphone.
 */
export async function launchChromium(
  extraArgs: string[] = [],
  options: { executablePath?: string } = {},
): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `e2e: no Chromium at ${CHROMIUM_PATH}; install it with \`apt-get install -y --no-install-recommends chromium\` (or set CHROMIUM_PATH)`,
    );
  }
  // executablePath: e.g. the network lab's wrapper that runs Chromium inside a namespace (test/support/netlab.ts).
  return chromium.launch({
    executablePath: options.executablePath ?? CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    timeout: 60_000,
  });
}
