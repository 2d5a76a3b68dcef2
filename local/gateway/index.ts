// The local API Gateway WebSocket emulator (see gateway.ts).
export {
  startLocalGateway,
  WEBSOCKET_PATHS,
  type GatewayHandlers,
  type LocalGateway,
  type LocalGatewayOptions,
} from './gateway';
export type { LambdaHandler, ProxyResult } from './lambda';
export type { ConnectEvent, DisconnectEvent, MessageEvent } from './events';
export { DEV_TOKEN_PATH, mintDevToken } from './dev-token';
export type { StaticMount } from './static-files';
export { createLogger, silentLogger, type Logger } from '../../lib/log';
