// DOM for the call view: one tile per participant, updated in place (levels change 10 times a second).
import type { Level } from './levels';

export interface Tile {
  key: string;
  userId: string;
  self: boolean;
  muted: boolean;
  /** Until the member's audio track arrives. */
  connecting: boolean;
  /** state.v1 (absent without it): deafened (self or server), and whether a moderator silenced it. */
  deafened?: boolean;
  serverMuted?: boolean;
  serverDeafened?: boolean;
  /** Moderator controls on this tile (the token allows moderating this channel; never on one's own tile). */
  moderate?: (change: { serverMuted?: boolean; serverDeafened?: boolean }) => void;
}

const HEADPHONES_OFF =
  '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 15v-3a8 8 0 0 1 13.7-5.6M20 12v3M4 15h3v5H4zM17 15h3v5h-3M4 4l16 16"/></svg>';
const MIC_OFF =
  '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M9 9v3a3 3 0 0 0 5.1 2.1M15 9.3V6a3 3 0 0 0-5.7-1.3M19 12a7 7 0 0 1-1.2 3.9M5 12a7 7 0 0 0 11 5.7M12 19v3M4 4l16 16"/></svg>';

export class ParticipantList {
  private readonly elements = new Map<string, HTMLLIElement>();

  constructor(private readonly root: HTMLUListElement) {}

  render(tiles: Tile[]): void {
    const keep = new Set(tiles.map((t) => t.key));
    for (const [key, el] of this.elements) {
      if (!keep.has(key)) {
        el.remove();
        this.elements.delete(key);
      }
    }
    for (const tile of tiles) {
      let el = this.elements.get(tile.key);
      if (!el) {
        el = createTile(tile);
        this.elements.set(tile.key, el);
      }
      this.root.append(el); // keeps the given order
      el.classList.toggle('participant--connecting', tile.connecting);
      el.querySelector<HTMLElement>('.muted-icon')!.hidden = !tile.muted;
      el.dataset.muted = String(tile.muted);
      // state.v1: deafened icon, who silenced it, and a moderator's controls.
      el.querySelector<HTMLElement>('.deafened-icon')!.hidden = !tile.deafened;
      el.dataset.deafened = String(!!tile.deafened);
      el.dataset.serverMuted = String(!!tile.serverMuted);
      el.dataset.serverDeafened = String(!!tile.serverDeafened);
      el.querySelector<HTMLElement>('.muted-icon')!.title = tile.serverMuted ? 'Muted by a moderator' : 'Muted';
      const mod = el.querySelector<HTMLElement>('.moderation')!;
      mod.hidden = !tile.moderate;
      const [muteBtn, deafBtn] = [...mod.querySelectorAll<HTMLButtonElement>('button')];
      muteBtn!.textContent = tile.serverMuted ? 'Unmute (server)' : 'Mute (server)';
      deafBtn!.textContent = tile.serverDeafened ? 'Undeafen (server)' : 'Deafen (server)';
      muteBtn!.onclick = () => tile.moderate?.({ serverMuted: !tile.serverMuted });
      deafBtn!.onclick = () => tile.moderate?.({ serverDeafened: !tile.serverDeafened });
      if (tile.connecting) el.querySelector<HTMLElement>('.participant__state')!.textContent = 'Connecting…';
    }
  }

  /** `speaking` overrides the level's own verdict (remote members: the SDK's speakingChanged). */
  showLevels(
    levels: ReadonlyMap<string, Level>,
    muted: (key: string) => boolean,
    speakingOf?: (key: string) => boolean | undefined,
  ): void {
    for (const [key, el] of this.elements) {
      const level = levels.get(key);
      const speaking = (speakingOf?.(key) ?? !!level?.speaking) && !muted(key);
      el.classList.toggle('participant--speaking', speaking);
      el.dataset.speaking = String(speaking);
      const fill = el.querySelector<HTMLElement>('.meter__fill')!;
      fill.style.width = `${meterPercent(level?.rms ?? 0)}%`;
      if (!el.classList.contains('participant--connecting')) {
        el.querySelector<HTMLElement>('.participant__state')!.textContent = muted(key)
          ? 'Muted'
          : speaking
            ? 'Speaking'
            : '';
      }
    }
  }

  clear(): void {
    this.render([]);
  }
}

function createTile(tile: Tile): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'participant';
  li.dataset.userId = tile.userId;
  li.dataset.self = String(tile.self);
  const avatar = document.createElement('div');
  avatar.className = 'avatar';
  avatar.style.background = colorFor(tile.userId);
  avatar.textContent = initialsFor(tile.userId);
  const name = document.createElement('div');
  name.className = 'participant__name';
  name.textContent = `User ${shortId(tile.userId)}`;
  name.title = tile.userId;
  const meter = document.createElement('div');
  meter.className = 'meter';
  meter.innerHTML = '<div class="meter__fill"></div>';
  const state = document.createElement('div');
  state.className = 'participant__state';
  const mutedIcon = document.createElement('div');
  mutedIcon.className = 'muted-icon';
  mutedIcon.innerHTML = MIC_OFF;
  mutedIcon.title = 'Muted';
  const deafenedIcon = document.createElement('div');
  deafenedIcon.className = 'muted-icon deafened-icon';
  deafenedIcon.innerHTML = HEADPHONES_OFF;
  deafenedIcon.title = 'Deafened';
  deafenedIcon.hidden = true;
  const moderation = document.createElement('div');
  moderation.className = 'moderation';
  moderation.hidden = true;
  moderation.innerHTML =
    '<button type="button" class="btn btn--ghost btn--small" data-action="server-mute"></button><button type="button" class="btn btn--ghost btn--small" data-action="server-deafen"></button>';
  li.append(mutedIcon, deafenedIcon, avatar, name, meter, state, moderation);
  if (tile.self) {
    const you = document.createElement('span');
    you.className = 'you-tag';
    you.textContent = 'You';
    li.prepend(you);
  }
  return li;
}

/** -60 dBFS (silence) → 0 %, 0 dBFS → 100 %: loudness as people perceive it, not raw amplitude. */
function meterPercent(rms: number): number {
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.round(Math.min(100, Math.max(0, ((db + 60) / 60) * 100)));
}

function shortId(id: string): string {
  return id.length > 8 ? `…${id.slice(-6)}` : id;
}

function initialsFor(id: string): string {
  return id.slice(-2).padStart(2, '0');
}

function colorFor(id: string): string {
  let hash = 0;
  for (const ch of id) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360} 55% 46%)`;
}
