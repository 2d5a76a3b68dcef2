// The join form: prefilled from the URL (so a reload or a shared link lands on the same channel),
// validated as uint64 decimal ids, and written back to the URL once joined (never the token).
import { VOICE_STREAM_PATH, type Variant } from '@harmony-voice/client';

export interface JoinRequest {
  user: string;
  guild: string;
  channel: string;
  token: string;
  server: string;
  variant: Variant;
}

const UINT64 = /^(0|[1-9][0-9]{0,19})$/;
const FIELDS = ['user', 'guild', 'channel', 'server', 'variant'] as const;

export function defaultServerUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${VOICE_STREAM_PATH}`;
}

export function prefill(form: HTMLFormElement): void {
  const params = new URLSearchParams(location.search);
  for (const name of FIELDS) {
    const value = params.get(name);
    if (value) (form.elements.namedItem(name) as HTMLInputElement).value = value;
  }
  const server = form.elements.namedItem('server') as HTMLInputElement;
  if (!server.value) server.value = defaultServerUrl();
}

/** Returns the request, or the message for the first invalid field (and marks it). */
export function read(form: HTMLFormElement): JoinRequest | { invalid: string } {
  const value = (name: string) => ((form.elements.namedItem(name) as HTMLInputElement).value ?? '').trim();
  for (const [name, label] of [
    ['user', 'User ID'],
    ['guild', 'Guild ID'],
    ['channel', 'Channel ID'],
  ] as const) {
    const input = form.elements.namedItem(name) as HTMLInputElement;
    const ok = UINT64.test(value(name)) && BigInt(value(name)) < 1n << 64n && value(name) !== '0';
    input.setAttribute('aria-invalid', String(!ok));
    if (!ok) {
      input.focus();
      return { invalid: `${label} must be a positive whole number (a Harmony id).` };
    }
  }
  const server = value('server') || defaultServerUrl();
  if (!/^wss?:\/\//.test(server)) return { invalid: 'The voice server address must start with ws:// or wss://.' };
  return {
    user: value('user'),
    guild: value('guild'),
    channel: value('channel'),
    token: value('token').replace(/\s+/g, ''),
    server,
    variant: value('variant') === 'binary' ? 'binary' : 'base64',
  };
}

export function remember(request: JoinRequest): void {
  const params = new URLSearchParams(location.search);
  params.set('user', request.user);
  params.set('guild', request.guild);
  params.set('channel', request.channel);
  params.set('variant', request.variant);
  if (request.server !== defaultServerUrl()) params.set('server', request.server);
  else params.delete('server');
  history.replaceState(null, '', `${location.pathname}?${params}`);
}
