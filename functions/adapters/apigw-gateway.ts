// Gateway over API Gateway's @connections management API, with the real AWS SDK client. Locally the
// same client talks to the local gateway's @connections endpoint (CONNECTIONS_ENDPOINT).
//
// The client is built once per container (runtime.ts keeps one per endpoint): its HTTP agent keeps connections
// alive, and `cacheMiddleware` resolves the SDK's middleware chain once per command type instead of on every
// call. Calls enter the SDK one after another (inTurn): a fan-out of 100 posts started together would otherwise
// interleave their serialisation and signing, so that even the first reached the network only after the CPU work
// of all 100. Nothing waits for an answer: the calls are in flight together, as many as the HTTP agent allows.
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { toWire, type Variant } from '../../protocol/hrpc';
import { UndeliverableError, type Gateway, type SendResult } from '../voice/ports';

const encoder = new TextEncoder();
/** The turn passed to a waiting call that has not started yet. */
const HANDED = Symbol('handed');
/**
 * Calls handed on without giving the event loop a turn: the first call of a burst, and then every YIELD_EVERY-th,
 * waits for a turn after it is written. Where the endpoint runs in the same process (the local gateway of
 * `npm start`), it can read a post only in such a turn: without them a fan-out's first post (the joiner's
 * JoinedChannel) was read only after all of a 100-member fan-out had been serialised and signed; with a turn after
 * every call, the whole fan-out was slower (one loop turn per post). On AWS, where the endpoint is remote, a turn
 * costs microseconds and changes nothing else.
 */
const YIELD_EVERY = 8;

export class ApiGatewayConnections implements Gateway {
  private readonly client: ApiGatewayManagementApiClient;
  /** Calls waiting for their turn (inTurn), in the order they were made. */
  private readonly waiting: (() => void)[] = [];
  /** Whose turn it is: a started call not yet on the wire, or one about to start. */
  private turn: object | typeof HANDED | undefined;
  /** Calls written since the turn was last handed on in a later loop turn (reset when no call waits). */
  private writtenSinceYield = 0;

  constructor(endpoint: string) {
    this.client = new ApiGatewayManagementApiClient({ endpoint, cacheMiddleware: true });
    // Innermost: runs with the signed request, hands it to the HTTP handler (which writes it), then passes the turn.
    this.client.middlewareStack.add(
      (next) => (args) => {
        const answered = next(args);
        const turn = this.turn;
        if (this.writtenSinceYield++ % YIELD_EVERY === 0) setImmediate(() => this.handOver(turn));
        else this.handOver(turn);
        return answered;
      },
      { step: 'deserialize', priority: 'low', name: 'harmonyVoiceWrittenInTurn' },
    );
  }

  async send(connectionId: string, frame: Uint8Array, variant: Variant): Promise<SendResult> {
    let bytes = 0;
    try {
      await this.inTurn(() => {
        const wire = toWire(frame, variant);
        const data = typeof wire === 'string' ? encoder.encode(wire) : wire;
        bytes = data.length;
        return this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
      });
      return 'sent';
    } catch (err) {
      if (isGone(err)) return 'gone';
      if (statusOf(err) === 413)
        throw new UndeliverableError(`API Gateway refused a ${bytes}-byte message as too large`);
      throw err;
    }
  }

  async close(connectionId: string): Promise<void> {
    try {
      await this.inTurn(() => this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId })));
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  }

  /**
   * Starts `call` once every call made before it has been written to its socket (or has waited on something else
   * for a macrotask: a first call's configuration, say), so calls made together reach the network in order, each
   * after its own CPU work rather than after everyone's. Only the start is ordered.
   */
  private inTurn<T>(call: () => Promise<T>): Promise<T> {
    if (this.turn === undefined) return this.start(call);
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => this.start(call));
  }

  private start<T>(call: () => Promise<T>): Promise<T> {
    const turn = {};
    this.turn = turn;
    let started: Promise<T>;
    try {
      started = call();
    } catch (err) {
      started = Promise.reject(err);
    }
    if (this.turn === turn) setImmediate(() => this.handOver(turn));
    return started;
  }

  /** Passes the turn on, if it is still `turn`'s. */
  private handOver(turn: object | typeof HANDED | undefined): void {
    if (turn === undefined || turn === HANDED || this.turn !== turn) return;
    const next = this.waiting.shift();
    this.turn = next ? HANDED : undefined;
    if (!next) this.writtenSinceYield = 0;
    next?.();
  }
}

function isGone(err: unknown): boolean {
  return err instanceof GoneException || statusOf(err) === 410;
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}
