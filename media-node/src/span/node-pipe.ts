// One end of the PipeTransport pair that carries a room's media between two nodes (its home node and a
// node holding a part of it), over the private network with SRTP on. Both ends are made the same way:
// create (an endpoint to hand to the other side), then connect to the other side's endpoint. A producer
// crosses by a pipe consumer on its side and a pipe producer with the same id on the other.
import type { types } from 'mediasoup';
import type { PipeEndpoint } from '../../../gen/medianode/v1/media_node';
import { MediaError } from '../../api/errors';
import { DEFAULT_PIPE_PORTS as PIPE_PORTS } from './pipe-ports';

/** Where a node's pipe transports listen (MediaNodeOptions.pipe; the security group admits node-to-node traffic here). */
export interface PipeListen {
  listenIp: string;
  announcedAddress?: string;
  portMin: number;
  portMax: number;
}

/** One truth for the range (pipe-ports.ts): the media node's default is the fleet security group's rule. */
export const DEFAULT_PIPE_PORTS = { portMin: PIPE_PORTS.min, portMax: PIPE_PORTS.max };

export class NodePipe {
  private constructor(readonly transport: types.PipeTransport) {}

  static async create(router: types.Router, listen: PipeListen, appData: Record<string, unknown>): Promise<NodePipe> {
    const transport = await router.createPipeTransport({
      listenInfo: {
        protocol: 'udp',
        ip: listen.listenIp,
        ...(listen.announcedAddress ? { announcedAddress: listen.announcedAddress } : {}),
        portRange: { min: listen.portMin, max: listen.portMax },
      },
      enableSrtp: true,
      appData,
    });
    return new NodePipe(transport);
  }

  /** What the other end connects to. */
  get endpoint(): PipeEndpoint {
    const { tuple, srtpParameters } = this.transport;
    return {
      ip: tuple.localAddress || tuple.localIp,
      port: tuple.localPort,
      srtpParameters: JSON.stringify(srtpParameters),
    };
  }

  async connect(remote: PipeEndpoint | undefined): Promise<void> {
    if (!remote?.ip || !remote.port || !remote.srtpParameters)
      throw new MediaError('internal', 'pipe endpoint is incomplete');
    let srtpParameters: types.SrtpParameters;
    try {
      srtpParameters = JSON.parse(remote.srtpParameters) as types.SrtpParameters;
    } catch {
      throw new MediaError('internal', 'pipe srtp parameters are not JSON');
    }
    await this.transport.connect({ ip: remote.ip, port: remote.port, srtpParameters });
  }

  /** A pipe consumer of `producerId` (on this end's router): what the other end's pipe producer is made from. */
  async consume(producerId: string): Promise<types.Consumer> {
    return this.transport.consume({ producerId });
  }

  /** The pipe producer of a producer of the other end (same id). */
  async produce(
    producerId: string,
    kind: types.MediaKind,
    rtpParameters: types.RtpParameters,
  ): Promise<types.Producer> {
    return this.transport.produce({ id: producerId, kind, rtpParameters });
  }

  close(): void {
    this.transport.close();
  }

  get closed(): boolean {
    return this.transport.closed;
  }
}
