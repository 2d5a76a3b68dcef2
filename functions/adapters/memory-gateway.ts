// In-memory Gateway: frames go to per-connection listeners in this process. The signalling benchmark's
// floor (no network, no @connections HTTP) and unit tests use it.
import type { Variant } from '../../protocol/hrpc';
import type { Gateway, SendResult } from '../voice/ports';

export class MemoryGateway implements Gateway {
  private readonly listeners = new Map<string, (frame: Uint8Array) => void>();
  readonly closed = new Set<string>();

  attach(connectionId: string, onFrame: (frame: Uint8Array) => void): void {
    this.listeners.set(connectionId, onFrame);
  }

  async send(connectionId: string, frame: Uint8Array, _variant: Variant): Promise<SendResult> {
    const listener = this.listeners.get(connectionId);
    if (!listener) return 'gone';
    listener(frame);
    return 'sent';
  }

  async close(connectionId: string): Promise<void> {
    this.listeners.delete(connectionId);
    this.closed.add(connectionId);
  }
}
