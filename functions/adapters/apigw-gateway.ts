// Gateway over API Gateway's @connections management API, with the real AWS SDK client. Locally the
// same client talks to the local gateway's @connections endpoint (CONNECTIONS_ENDPOINT).
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { toWire, type Variant } from '../../protocol/hrpc';
import { UndeliverableError, type Gateway, type SendResult } from '../voice/ports';

export class ApiGatewayConnections implements Gateway {
  private readonly client: ApiGatewayManagementApiClient;

  constructor(endpoint: string) {
    this.client = new ApiGatewayManagementApiClient({ endpoint });
  }

  async send(connectionId: string, frame: Uint8Array, variant: Variant): Promise<SendResult> {
    const wire = toWire(frame, variant);
    const data = typeof wire === 'string' ? new TextEncoder().encode(wire) : wire;
    try {
      await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
      return 'sent';
    } catch (err) {
      if (isGone(err)) return 'gone';
      if (statusOf(err) === 413)
        throw new UndeliverableError(`API Gateway refused a ${data.length}-byte message as too large`);
      throw err;
    }
  }

  async close(connectionId: string): Promise<void> {
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  }
}

function isGone(err: unknown): boolean {
  return err instanceof GoneException || statusOf(err) === 410;
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}
