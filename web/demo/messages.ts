// What the user reads when something goes wrong: plain words first, the identifier for support.
import type { VoiceErrorEvent } from '@harmony-voice/client';

export interface Message {
  title: string;
  text: string;
  kind: 'error' | 'warn' | 'info';
}

export function describeError(error: VoiceErrorEvent): Message {
  const id = error.identifier;
  switch (id) {
    case 'client.microphone-denied':
      return {
        kind: 'error',
        title: 'Microphone blocked.',
        text: 'Allow microphone access for this site (the icon in the address bar), then join again.',
      };
    case 'client.microphone-unavailable':
      return {
        kind: 'error',
        title: 'No microphone found.',
        text: 'Connect a microphone or check that no other app is holding it, then join again.',
      };
    case 'client.connect-failed':
      return {
        kind: 'error',
        title: 'Could not connect to the voice server.',
        text: 'Your session token may be invalid or expired, or the server is unreachable. Check the token and try again.',
      };
    case 'client.bad-token':
    case 'h.blank-session':
      return {
        kind: 'error',
        title: 'Your session token was not accepted.',
        text: `${error.message}. Get a new token and try again.`,
      };
    case 'h.not-joined':
    case 'h.bad-guild-id':
    case 'h.bad-channel-id':
      return { kind: 'error', title: 'You cannot join this channel.', text: `${error.message} (${id}).` };
    case 'voice.session-replaced':
      return {
        kind: 'warn',
        title: 'You joined from somewhere else.',
        text: 'This channel was opened in another tab or device, so this one was disconnected.',
      };
    case 'client.media-unreachable':
    case 'voice.media-unreachable':
      return { kind: 'error', title: 'Your audio could not connect.', text: `${error.message} (${id}).` };
    case 'voice.channel-full':
      return { kind: 'warn', title: 'This channel is full.', text: 'Try again when someone leaves.' };
    case 'voice.producer-policed':
      return {
        kind: 'warn',
        title: 'Your audio was stopped.',
        text: 'Your microphone sent far more than voice needs (a broken audio setup?), so the server paused it. Check your audio settings and join again.',
      };
    case 'voice.rate-limited':
      return { kind: 'warn', title: 'Too many attempts.', text: retryText(error) };
    case 'voice.token-expired':
      return { kind: 'warn', title: 'Your session token expired.', text: 'Get a new token and join again.' };
    case 'hrpc.unavailable':
    case 'hrpc.resource-exhausted':
      return { kind: 'warn', title: 'The voice service is busy.', text: retryText(error) };
    case 'client.unsupported':
      return { kind: 'error', title: 'This browser cannot join voice.', text: error.message };
    case 'client.timeout':
      return {
        kind: 'error',
        title: 'Joining took too long.',
        text: 'The voice server did not finish setting up the call. Try again.',
      };
    default:
      return { kind: 'error', title: 'Something went wrong.', text: `${error.message} (${id})` };
  }
}

function retryText(error: VoiceErrorEvent): string {
  return error.retryAfterSeconds ? `Retrying in ${error.retryAfterSeconds} s.` : 'Retrying shortly.';
}
