// The demo page: join a channel with the microphone, see who is there and who is speaking, mute, leave.
import {
  ClientErrorId,
  consoleLogger,
  SUBPROTOCOL_BASE64,
  SUBPROTOCOL_BINARY,
  VoiceClient,
  VoiceClientError,
  type ClientState,
  type VoiceErrorEvent,
} from '@harmony-voice/client';
import { prefill, read, remember, type JoinRequest } from './form';
import { LevelMeters, type Level } from './levels';
import { describeError, type Message } from './messages';
import { ParticipantList, type Tile } from './view';

const SELF = 'self';

const el = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const form = el<HTMLFormElement>('join-form');
const joinButton = el<HTMLButtonElement>('join-button');
const muteButton = el<HTMLButtonElement>('mute-button');
const deafenButton = el<HTMLButtonElement>('deafen-button');
// ?state=1 asks for state.v1 (mute/deafen seen by everyone, moderation); ?moderator=1 asks the local stack's
// development issuer for a token that may moderate the channel.
const wantsState = new URLSearchParams(location.search).get('state') === '1';
const list = new ParticipantList(el<HTMLUListElement>('participants'));

interface Remote {
  userId: string;
  track?: MediaStreamTrack;
  audio?: HTMLAudioElement;
}

// ?debug=1 logs every protocol step to the console.
const params = new URLSearchParams(location.search);
// ?relay=1 asks for the server's TURN relays (relay.v1: last resort, then the relay-only rung if media never connects);
// ?resume=1 opts in to resume.v1; ?maxConnectionMs=… is the gateway's connection cap (make-before-break before it).
const client = new VoiceClient({
  log: consoleLogger(params.has('debug') ? 'debug' : 'warn'),
  ...(params.get('maxConnectionMs') ? { maxConnectionMs: Number(params.get('maxConnectionMs')) } : {}),
  ...(params.get('iceRestart') === '1' ? { restartIceOnResume: true } : {}),
  // bench:reach measures concealment with the loss defaults off.
  ...(params.get('fec') === '0' ? { opusFec: false } : {}),
  ...(params.get('nack') ? { audioNack: params.get('nack') === '1' } : {}),
  // ?relayOnly=1: ICE over the relays (relay.v1) only, from the first try (tests of the relay rung itself).
  ...(params.get('relayOnly') === '1' ? { iceTransportPolicy: 'relay' as const } : {}),
});
const remotes = new Map<string, Remote>();
let current: JoinRequest | undefined;
let lastLevels: ReadonlyMap<string, Level> = new Map();
const meters = new LevelMeters((levels) => {
  lastLevels = levels;
  list.showLevels(levels, mutedKey, speakingOf);
});

/** A member's state.v1 state, by tile key (SELF: this user). */
function stateOf(key: string) {
  const user = key === SELF ? current?.user : key;
  return client.memberStates.find((s) => s.userId.toString() === user);
}

function mutedKey(key: string): boolean {
  const s = stateOf(key);
  return (key === SELF && client.muted) || !!s?.selfMuted || !!s?.serverMuted;
}

/** Remote members: the SDK's speakingChanged (received audio levels); this user: the local meter. */
function speakingOf(key: string): boolean | undefined {
  return key === SELF ? undefined : client.isSpeaking(key);
}

// ---- joining ----

prefill(form);
form.addEventListener('submit', (event) => {
  event.preventDefault();
  void join();
});

async function join(): Promise<void> {
  hideBanner();
  const request = read(form);
  const formError = el('form-error');
  if ('invalid' in request) {
    formError.textContent = request.invalid;
    formError.hidden = false;
    return;
  }
  formError.hidden = true;
  current = request;
  if (request.token) tokenModerates = moderatesOf(request.token);
  demo.joinClickedAt = performance.now();
  setBusy(true);
  meters.start(); // inside the click: lets the AudioContext start
  try {
    await client.connect({
      url: request.server,
      // A pasted token is used as is; otherwise a fresh local development token for every (re)connect.
      token: request.token || (() => fetchDevToken(request)),
      guildId: request.guild,
      channelId: request.channel,
      variant: request.variant,
      resume: params.get('resume') === '1',
      relays: params.get('relay') === '1',
      voiceState: wantsState,
    });
    remember(request);
  } catch {
    // Already reported through the client's `error` event.
  } finally {
    setBusy(false);
  }
}

async function fetchDevToken(request: JoinRequest): Promise<string> {
  const query = new URLSearchParams({
    user: request.user,
    guild: request.guild,
    channel: request.channel,
    ...(params.get('moderator') === '1' ? { moderator: '1' } : {}),
  });
  let response: Response;
  try {
    response = await fetch(`/dev/token?${query}`);
  } catch (err) {
    throw new VoiceClientError(
      ClientErrorId.connectFailed,
      `could not reach this server for a development token: ${(err as Error).message}`,
    );
  }
  if (response.status === 404) {
    throw new VoiceClientError(
      ClientErrorId.badToken,
      'this server does not issue development tokens: paste a session token',
    );
  }
  const body = (await response.text()).trim();
  // The local stack answers {"token": ...} (or an {"error","message"}); a bare token is accepted too.
  let parsed: { token?: string; message?: string } | undefined;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  if (!response.ok)
    throw new VoiceClientError(
      ClientErrorId.badToken,
      `no development token: ${parsed?.message ?? (body || response.status)}`,
    );
  const token = parsed ? parsed.token : body;
  if (!token) throw new VoiceClientError(ClientErrorId.badToken, 'the development token response carried no token');
  tokenModerates = moderatesOf(token);
  return token;
}

/**
 * The channels the token says its user may moderate (the `moderates` claim, TOKEN_MODERATE_CLAIM's default): only to
 * show the controls — the server decides (`voice.not-moderator`).
 */
let tokenModerates: string[] = [];
function moderatesOf(token: string): string[] {
  try {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as {
      moderates?: unknown;
    };
    const m = payload.moderates;
    return Array.isArray(m)
      ? m.filter((x): x is string => typeof x === 'string')
      : typeof m === 'string'
        ? m.split(/\s+/)
        : [];
  } catch {
    return [];
  }
}

function canModerate(): boolean {
  if (!current || !client.voiceState) return false;
  return (
    tokenModerates.includes(`${current.guild}:${current.channel}`) || tokenModerates.includes(`${current.guild}:*`)
  );
}

// ---- client events ----

client.on('state', ({ state }) => showState(state));

client.on('joined', ({ guildId, channelId, users, reconnected }) => {
  for (const key of [...remotes.keys()]) dropRemote(key);
  for (const userId of users) remotes.set(userId.toString(), { userId: userId.toString() });
  if (client.localTrack) meters.watch(SELF, client.localTrack);
  el('channel-title').textContent = `# channel ${channelId}`;
  el('transport-badge').textContent =
    client.subprotocol ?? (current?.variant === 'binary' ? SUBPROTOCOL_BINARY : SUBPROTOCOL_BASE64);
  el('channel-sub').dataset.guild = guildId.toString();
  el('join-view').hidden = true;
  el('call-view').hidden = false;
  if (reconnected) showBanner({ kind: 'info', title: 'Reconnected.', text: 'You are back in the channel.' }, 4000);
  demo.joinedAt ??= performance.now();
  render();
});

client.on('userJoined', ({ userId }) => {
  const key = userId.toString();
  if (!remotes.has(key)) remotes.set(key, { userId: key });
  render();
});

client.on('track', ({ userId, track }) => {
  const key = userId.toString();
  const remote = remotes.get(key) ?? { userId: key };
  remote.audio?.remove();
  remote.track = track;
  // Playback goes through a media element: Chromium only renders remote WebRTC audio that way.
  const audio = document.createElement('audio');
  audio.autoplay = true;
  audio.srcObject = new MediaStream([track]);
  audio.dataset.userId = key;
  el('remote-audio').append(audio);
  void audio
    .play()
    .catch(() =>
      showBanner({ kind: 'warn', title: 'Audio is blocked.', text: 'Click anywhere on the page to hear the others.' }),
    );
  remote.audio = audio;
  remotes.set(key, remote);
  meters.watch(key, track);
  render();
});

client.on('userLeft', ({ userId }) => {
  dropRemote(userId.toString());
  render();
});

client.on('error', (error: VoiceErrorEvent) => showBanner(describeError(error)));

client.on('nextRung', () => {
  // relay.v1: the direct paths never connected; the client joins again over the relay only.
  showBanner({
    kind: 'warn',
    title: 'Direct audio paths are blocked on this network.',
    text: 'Joining again through the relay (TURN over TLS on 443)…',
  });
});

client.on('resumed', () => {
  // resume.v1: the same session on a new socket; nothing else changed (no participant list flicker).
  hideBanner();
  render();
});

client.on('reconnecting', ({ attempt }) => {
  el('status-text').textContent = `Reconnecting (attempt ${attempt})…`;
});

client.on('closed', ({ willReconnect, error }) => {
  for (const key of [...remotes.keys()]) dropRemote(key);
  if (willReconnect) {
    showBanner({ kind: 'warn', title: 'Connection lost.', text: 'Rejoining the channel…' });
    render();
    return;
  }
  meters.unwatch(SELF);
  el('call-view').hidden = true;
  el('join-view').hidden = false;
  if (error) el('status').dataset.state = 'error';
  render();
});

// state.v1: the channel's word on who is muted/deafened (itself included), and the SDK's speaking detection.
client.on('memberState', () => render());
client.on('speakingChanged', () => list.showLevels(lastLevels, mutedKey, speakingOf));
client.on('deafened', ({ deafened }) => {
  deafenButton.setAttribute('aria-pressed', String(deafened));
  deafenButton.querySelector('span')!.textContent = deafened ? 'Undeafen' : 'Deafen';
  render();
});

client.on('muted', ({ muted }) => {
  muteButton.setAttribute('aria-pressed', String(muted));
  muteButton.querySelector('span')!.textContent = muted ? 'Unmute' : 'Mute';
  render();
  list.showLevels(lastLevels, mutedKey, speakingOf);
});

// ---- controls ----

muteButton.addEventListener('click', () => client.setMuted(!client.muted));
deafenButton.addEventListener('click', () => client.setSelfDeafened(!client.deafened));
el('leave-button').addEventListener('click', () => void client.leave());
el('banner-close').addEventListener('click', hideBanner);
// Leaving cleanly on close/reload tells the others at once instead of after a timeout.
window.addEventListener('pagehide', () => void client.leave());

// ---- rendering ----

function render(): void {
  const tiles: Tile[] = [];
  const flags = (key: string) => {
    const s = stateOf(key);
    return s
      ? { deafened: s.selfDeafened || s.serverDeafened, serverMuted: s.serverMuted, serverDeafened: s.serverDeafened }
      : {};
  };
  const moderator = canModerate();
  if (current && client.state !== 'idle' && client.state !== 'closed') {
    tiles.push({
      key: SELF,
      userId: current.user,
      self: true,
      muted: mutedKey(SELF),
      connecting: false,
      ...flags(SELF),
    });
  }
  for (const [key, remote] of remotes) {
    tiles.push({
      key,
      userId: remote.userId,
      self: false,
      muted: mutedKey(key),
      connecting: !remote.track,
      ...flags(key),
      ...(moderator
        ? { moderate: (change: { serverMuted?: boolean; serverDeafened?: boolean }) => client.moderate(key, change) }
        : {}),
    });
  }
  list.render(tiles);
  deafenButton.hidden = !client.voiceState;
  const count = tiles.length;
  el('alone-hint').hidden = !(client.state === 'joined' && count === 1);
  const guild = el('channel-sub').dataset.guild ?? current?.guild ?? '';
  el('channel-sub').textContent = `Guild ${guild} · ${count} ${count === 1 ? 'person' : 'people'} connected`;
  if (client.state === 'joined')
    el('status-text').textContent = `Connected · ${count} in channel${mediaPath ? ` · audio via ${mediaPath}` : ''}`;
}

// Which rung the send transport uses (udp / tcp / relay-tls): shown in the status line once known.
let mediaPath = '';
setInterval(() => {
  if (client.state !== 'joined') {
    if (mediaPath) mediaPath = '';
    return;
  }
  void client
    .getMediaPaths()
    .then((paths) => {
      const rung = paths.send?.rung ?? '';
      if (rung !== mediaPath) {
        mediaPath = rung;
        render();
      }
    })
    .catch(() => {});
}, 1000);

function dropRemote(key: string): void {
  const remote = remotes.get(key);
  remote?.audio?.remove();
  meters.unwatch(key);
  remotes.delete(key);
}

function showState(state: ClientState): void {
  el('status').dataset.state = state;
  const text: Record<ClientState, string> = {
    idle: 'Not connected',
    connecting: 'Connecting…',
    joined: 'Connected',
    resuming: 'Resuming…',
    reconnecting: 'Reconnecting…',
    closed: 'Not connected',
  };
  el('status-text').textContent = text[state];
  if (state === 'joined') render();
}

function setBusy(busy: boolean): void {
  joinButton.disabled = busy;
  joinButton.querySelector('span')!.textContent = busy ? 'Joining…' : 'Join with microphone';
}

let bannerTimer: ReturnType<typeof setTimeout> | undefined;
function showBanner(message: Message, autoHideMs?: number): void {
  clearTimeout(bannerTimer);
  const banner = el('banner');
  banner.dataset.kind = message.kind;
  el('banner-title').textContent = message.title;
  el('banner-text').textContent = message.text;
  banner.hidden = false;
  if (autoHideMs) bannerTimer = setTimeout(hideBanner, autoHideMs);
}

function hideBanner(): void {
  el('banner').hidden = true;
}

// ---- a handle for tests and debugging ----

const demo = {
  client,
  joinClickedAt: undefined as number | undefined,
  joinedAt: undefined as number | undefined,
  /** Level per participant key ('self' or the user id), as the speaking indicator sees it. */
  levels: () => Object.fromEntries([...lastLevels].map(([k, v]) => [k, { rms: v.rms, speaking: v.speaking }])),
};
declare global {
  interface Window {
    harmonyVoiceDemo: typeof demo;
  }
}
window.harmonyVoiceDemo = demo;
