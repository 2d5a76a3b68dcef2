// The microphone a VoiceClient sends: the app's own track (never stopped by the SDK), or one the SDK asked
// getUserMedia for (stopped on release). A connect() that was left while the browser's permission prompt was open
// stops the track it got at once, instead of leaving the microphone on with nobody to stop it.
import { ClientErrorId, VoiceClientError } from './errors';

export class Microphone {
  private current?: MediaStreamTrack;
  private owned = false;

  /** The track being sent, once acquired. */
  get track(): MediaStreamTrack | undefined {
    return this.current;
  }

  /**
   * Uses `given`, or keeps a live track of its own, or asks getUserMedia for one. Rejects with the signal's reason
   * when it was aborted meanwhile (a track it got then is stopped), or with `client.microphone-*` / `unsupported`
   * (the browser's error as `cause`).
   */
  async acquire(
    given: MediaStreamTrack | undefined,
    constraints: MediaTrackConstraints,
    signal: AbortSignal,
  ): Promise<MediaStreamTrack> {
    signal.throwIfAborted();
    if (given) {
      if (this.owned) this.release();
      this.current = given;
      this.owned = false;
      return given;
    }
    if (this.current && this.current.readyState === 'live') return this.current;
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new VoiceClientError(
        ClientErrorId.unsupported,
        'this page cannot use the microphone: it needs HTTPS (or localhost) and a WebRTC-capable browser',
      );
    }
    let track: MediaStreamTrack | undefined;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: constraints, video: false });
      track = stream.getAudioTracks()[0];
    } catch (err) {
      signal.throwIfAborted();
      const name = (err as DOMException)?.name;
      if (name === 'NotAllowedError' || name === 'SecurityError') {
        throw new VoiceClientError(ClientErrorId.microphoneDenied, 'microphone access was denied', { cause: err });
      }
      throw new VoiceClientError(
        ClientErrorId.microphoneUnavailable,
        `no usable microphone (${name ?? 'error'}: ${(err as Error)?.message ?? ''})`,
        { cause: err },
      );
    }
    if (signal.aborted) {
      track?.stop();
      throw signal.reason;
    }
    if (!track) throw new VoiceClientError(ClientErrorId.microphoneUnavailable, 'the microphone gave no audio track');
    this.current = track;
    this.owned = true;
    return track;
  }

  /** Stops the track if the SDK acquired it, and forgets it (the app's own track is left running). */
  release(): void {
    if (this.owned) {
      this.current?.stop();
      this.current = undefined;
    }
    this.owned = false;
  }
}
