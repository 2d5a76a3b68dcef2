// Why a session ends, as one table: per reason, what its client is told (a fatal error, or nothing), whether its
// socket is closed when it is told nothing, and the `Reason` label of the SessionsEnded metric. Every place that
// ends a session (session-end.ts, history-sync.ts, client-steps.ts, session-resume.ts, sweep.ts) names a reason
// and builds what the client hears with endError(); the ending itself is session-end.ts.
import { ErrorId, VoiceError } from '../../protocol/errors';
import { mediaLostError } from './media-errors';
import type { ConnectionState } from './protocol-table';

/** Why the media session is gone, as far as the ending knows it. */
export type MediaLoss =
  /** The media node reported it lost (its reason, media-node/api/errors.ts), or a leave entry's reason. */
  | { mediaReason: string }
  /** The node hosting it stopped heartbeating. */
  | { nodeStopped: true }
  /** resume.v1: restarting its ICE failed (the node's answer, as a voice error identifier). */
  | { resumeFailed: string };

/** What each reason's error is built from (void: a fixed message, or none). */
interface EndDetails {
  /** `$disconnect`: the client left; nothing to tell. */
  disconnected: undefined;
  /** A step failed with a fatal error: that error. */
  rejected: VoiceError;
  /** A post found its socket gone (410): nothing to tell; the socket is closed anyway. */
  gone: undefined;
  /** The same user's newer session took its seat. */
  replaced: undefined;
  /** No progress from this state within its deadline. */
  timeout: ConnectionState;
  /** Past its expiry: because the token it was opened with expired (and the grace after it), or its maximum duration. */
  expired: { tokenExpired: boolean };
  /** Its media session is gone; undefined: nobody to tell (a suspended or resuming session whose node died). */
  'media-lost': MediaLoss | undefined;
  /** A `closing` whose ending never finished (its deadline passed): finished by the sweep; told before. */
  stuck: undefined;
  /** resume.v1: suspended (or resuming) past its deadline; it has no socket to tell. */
  'resume-grace-over': undefined;
  /** An entry of its channel's history could not be posted to it: it alone ends (never suspended). */
  undeliverable: undefined;
}

export type EndReason = keyof EndDetails;

interface EndRule<R extends EndReason> {
  /** The `Reason` dimension of the SessionsEnded metric. */
  metric: string;
  /** What the client is told (fatal), or undefined: nothing. */
  error(detail: EndDetails[R]): VoiceError | undefined;
  /** Its socket is closed even when it is told nothing. */
  closeUntold: boolean;
}

const nothing = () => undefined;

export const END_REASONS: { readonly [R in EndReason]: EndRule<R> } = {
  disconnected: { metric: 'disconnected', error: nothing, closeUntold: false },
  rejected: { metric: 'rejected', error: (error) => error, closeUntold: false },
  gone: { metric: 'gone', error: nothing, closeUntold: true },
  replaced: {
    metric: 'replaced',
    error: () => fatal(ErrorId.replaced, 'the same user joined this channel from another stream'),
    closeUntold: false,
  },
  timeout: {
    metric: 'timeout',
    error: (state) => fatal(ErrorId.timeout, `no progress from state ${state} in time; the stream is closed`),
    closeUntold: false,
  },
  expired: {
    metric: 'expired',
    error: ({ tokenExpired }) =>
      tokenExpired
        ? fatal(ErrorId.tokenExpired, 'the session token expired; connect again with a fresh token')
        : fatal(ErrorId.timeout, 'the stream reached its maximum duration'),
    closeUntold: false,
  },
  'media-lost': {
    metric: 'media-lost',
    error: (loss) => {
      if (loss === undefined) return undefined;
      if ('mediaReason' in loss) return mediaLostError(loss.mediaReason);
      if ('nodeStopped' in loss)
        return fatal(ErrorId.mediaLost, 'the media server hosting this channel stopped; reconnect to rejoin');
      return fatal(ErrorId.mediaLost, `the media session cannot be resumed (${loss.resumeFailed}); join again`);
    },
    closeUntold: false,
  },
  stuck: { metric: 'stuck', error: nothing, closeUntold: false },
  'resume-grace-over': { metric: 'resume-grace-over', error: nothing, closeUntold: false },
  undeliverable: {
    metric: 'undeliverable',
    error: () =>
      fatal(
        ErrorId.undeliverable,
        'a membership message of this channel could not be delivered to this stream; join again',
      ),
    closeUntold: false,
  },
};

/** What a session ended for `reason` tells its client (built from the ending's `detail`). */
export function endError<R extends EndReason>(
  reason: R,
  ...detail: EndDetails[R] extends undefined ? [] : [EndDetails[R]]
): VoiceError | undefined {
  return END_REASONS[reason].error(detail[0] as EndDetails[R]);
}

function fatal(identifier: (typeof ErrorId)[keyof typeof ErrorId], message: string): VoiceError {
  return new VoiceError(identifier, message, { fatal: true });
}
