// A minimal TURN client over UDP (RFC 5766 Allocate + CreatePermission with the long-term credential mechanism),
// built on werift's STUN message codec, for testing what a relay allows. One socket per probe, closed by close().
import { createSocket, type Socket } from 'node:dgram';
import { createHash } from 'node:crypto';
import { parseMessage, Message } from 'werift/lib/ice/src/stun/message';
import { classes, methods } from 'werift/lib/ice/src/stun/const';

const UDP_TRANSPORT = 0x11000000;

export interface TurnAnswer {
  ok: boolean;
  /** ERROR-CODE of an error response. */
  code?: number;
  message: Message;
}

export class TurnProbe {
  private readonly socket: Socket = createSocket('udp4');
  private key?: Buffer;
  private realm?: string;
  private nonce?: Buffer;

  constructor(
    private readonly server: { host: string; port: number },
    private readonly username: string,
    private readonly password: string,
  ) {}

  /** Allocate: the unauthenticated first try (401 with realm and nonce), then with the credential. */
  async allocate(): Promise<TurnAnswer & { relayed?: [string, number] }> {
    const first = await this.send(
      new Message(methods.ALLOCATE, classes.REQUEST).setAttribute('REQUESTED-TRANSPORT', UDP_TRANSPORT) as Message,
      false,
    );
    this.realm = first.message.getAttributeValue('REALM') as string;
    this.nonce = first.message.getAttributeValue('NONCE') as Buffer;
    this.key = createHash('md5').update(`${this.username}:${this.realm}:${this.password}`).digest();
    const answer = await this.send(
      new Message(methods.ALLOCATE, classes.REQUEST).setAttribute('REQUESTED-TRANSPORT', UDP_TRANSPORT) as Message,
      true,
    );
    return {
      ...answer,
      relayed: answer.ok ? (answer.message.getAttributeValue('XOR-RELAYED-ADDRESS') as [string, number]) : undefined,
    };
  }

  createPermission(peer: [string, number]): Promise<TurnAnswer> {
    return this.send(
      new Message(methods.CREATE_PERMISSION, classes.REQUEST).setAttribute('XOR-PEER-ADDRESS', peer) as Message,
      true,
    );
  }

  close(): void {
    this.socket.close();
  }

  private send(request: Message, signed: boolean): Promise<TurnAnswer> {
    if (signed) {
      request
        .setAttribute('USERNAME', this.username)
        .setAttribute('REALM', this.realm!)
        .setAttribute('NONCE', this.nonce!);
      request.addMessageIntegrity(this.key!);
      request.addFingerprint();
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.socket.off('message', onMessage);
        reject(new Error(`no TURN answer from ${this.server.host}:${this.server.port}`));
      }, 3000);
      const onMessage = (data: Buffer) => {
        const message = parseMessage(data);
        if (!message || message.transactionIdHex !== request.transactionIdHex) return;
        clearTimeout(timer);
        this.socket.off('message', onMessage);
        const code = (message.getAttributeValue('ERROR-CODE') as [number, string] | undefined)?.[0];
        resolve({ ok: message.messageClass === classes.RESPONSE, code, message });
      };
      this.socket.on('message', onMessage);
      this.socket.send(request.bytes, this.server.port, this.server.host);
    });
  }
}
