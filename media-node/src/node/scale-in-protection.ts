// Instance scale-in protection follows the node's rooms: protected while it hosts at least one room and is
// not draining, unprotected when it is empty or draining (so Auto Scaling never scales in a node with a
// live call, and a node that is leaving anyway does not block the group). Only changes are sent; a failed
// call is logged and retried at the next update. The AWS call is injected (ProtectionClient), so the rule
// is tested without AWS; autoScalingProtection() is the real client.
import { AutoScalingClient, SetInstanceProtectionCommand } from '@aws-sdk/client-auto-scaling';
import type { Logger } from '../../../lib/log';

export interface ProtectionClient {
  setProtected(protect: boolean): Promise<void>;
}

export interface NodeOccupancy {
  rooms: number;
  draining: boolean;
}

export class ScaleInProtection {
  private current: boolean | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: ProtectionClient,
    private readonly log: Logger,
  ) {}

  /** Whether the instance is protected as far as this node last set it (undefined: not yet set). */
  get protected(): boolean | undefined {
    return this.current;
  }

  /** Brings the protection in line with the node's occupancy; resolves when done (never rejects). */
  update(occupancy: NodeOccupancy): Promise<void> {
    this.queue = this.queue.then(() => this.apply(occupancy));
    return this.queue;
  }

  private async apply({ rooms, draining }: NodeOccupancy): Promise<void> {
    const want = rooms > 0 && !draining;
    if (want === this.current) return;
    try {
      await this.client.setProtected(want);
      this.current = want;
      this.log.info('media-node.scale-in-protection', { protected: want, rooms, draining });
    } catch (error) {
      this.log.warn('media-node.scale-in-protection-failed', {
        protected: want,
        rooms,
        draining,
        error: (error as Error).message,
      });
    }
  }
}

/** SetInstanceProtection on this instance of its Auto Scaling group. */
export function autoScalingProtection(
  target: { instanceId: string; autoScalingGroupName: string },
  client: Pick<AutoScalingClient, 'send'> = new AutoScalingClient({}),
): ProtectionClient {
  return {
    async setProtected(protect) {
      await client.send(
        new SetInstanceProtectionCommand({
          InstanceIds: [target.instanceId],
          AutoScalingGroupName: target.autoScalingGroupName,
          ProtectedFromScaleIn: protect,
        }),
      );
    },
  };
}
