// AWS calls the handlers make on paths test/infra/iam-behaviour.test.ts does not take in the local stack, each
// with the code that makes it: with the recorded calls, they are the only reason a grant may exist.
export interface DocumentedCall {
  readonly fn: 'connect' | 'default' | 'disconnect' | 'reaper';
  readonly action: string;
  /** As the recorder names it: table:<stem>[/index/<name>], connections:<METHOD>, secret:<logical id>. */
  readonly resource: string;
  readonly where: string;
}

const secret = 'secret:MediaNodeSecret';
const MEDIA_SECRET =
  'functions/handlers/grpc-runtime.ts: on AWS the media node secret is read from Secrets Manager at cold start (MEDIA_NODE_SECRET_ARN); the local stack passes MEDIA_NODE_SECRET';

const RELAY_SECRET =
  'functions/handlers/relay-env.ts: with -c relays=true, $default reads the TURN REST API secret (VOICE_RELAY_SECRET_ARN) at cold start to issue relay.v1 credentials; the local stack passes VOICE_RELAY_SECRET';

export const DOCUMENTED_CALLS: readonly DocumentedCall[] = [
  { fn: 'default', action: 'secretsmanager:GetSecretValue', resource: 'secret:RelaySecret', where: RELAY_SECRET },
  { fn: 'default', action: 'secretsmanager:GetSecretValue', resource: secret, where: MEDIA_SECRET },
  { fn: 'disconnect', action: 'secretsmanager:GetSecretValue', resource: secret, where: MEDIA_SECRET },
  { fn: 'reaper', action: 'secretsmanager:GetSecretValue', resource: secret, where: MEDIA_SECRET },
  {
    fn: 'default',
    action: 'dynamodb:DeleteItem',
    resource: 'table:state',
    where: "voice-core.ts: a session ended by a fatal error, or a resumed session's old socket alias, is deleted",
  },
  {
    fn: 'default',
    action: 'execute-api:ManageConnections',
    resource: 'connections:DELETE',
    where: 'voice-core.ts: a fatal error closes the socket (gateway.close)',
  },
  {
    fn: 'disconnect',
    action: 'dynamodb:GetItem',
    resource: 'table:nodes',
    where:
      "voice-core.ts end(): a node refusing leave is checked alive (ChannelPlacement.isAlive reads that node's record)",
  },
  {
    fn: 'disconnect',
    action: 'execute-api:ManageConnections',
    resource: 'connections:DELETE',
    where: 'voice-core.ts end(): a session ended with an error closes its other socket (resume.v1 alias)',
  },
  {
    fn: 'reaper',
    action: 'dynamodb:DeleteItem',
    resource: 'table:nodes',
    where:
      "sweep.ts: a dead node's record is retired and its lost-session records deleted (NodeRegistry.retireNode / deleteLostSession)",
  },
  {
    fn: 'reaper',
    action: 'dynamodb:BatchGetItem',
    resource: 'table:state',
    where:
      "channel-feed.ts: a joined session the sweep ends tells the channel's members (getConnections of the receivers)",
  },
  {
    fn: 'reaper',
    action: 'dynamodb:Query',
    resource: 'table:state/index/ByNode',
    where: 'sweep.ts: the sessions of a dead node (BY_NODE index)',
  },
];
