// Which of harmony-voice's extensions the SDK asks for (protocol/extensions.ts: one negotiation, `+ext.v1` then
// Hello → Welcome). A feature the server does not grant is simply not used: the session is plain voice.v1 there.
import { FEATURE } from '../../protocol/extensions';

export { FEATURE };

export interface ExtensionChoice {
  /** resume.v1: the session outlives its socket. */
  resume: boolean;
  /** consumers.v1: consumers arrive resumed, so the client sends no ResumeConsumer per member. */
  consumersResumed: boolean;
  /** relay.v1: the server's TURN relays with short-lived credentials (web/src/voice-session.ts uses them). */
  relays?: boolean;
  /** state.v1: members' mute/deafen states and moderation (web/src/voice-client.ts: memberState, moderate). */
  voiceState?: boolean;
}

/** The features a Hello asks for (empty: the offer stays exactly voice.v1's, or resume.v1's). */
export function askedFeatures(choice: ExtensionChoice): string[] {
  return [
    ...(choice.resume ? [FEATURE.resume] : []),
    ...(choice.consumersResumed ? [FEATURE.consumers] : []),
    ...(choice.relays ? [FEATURE.relay] : []),
    ...(choice.voiceState ? [FEATURE.state] : []),
  ];
}
