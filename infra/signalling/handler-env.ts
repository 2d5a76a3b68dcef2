// What the handlers' code may read from its environment beyond what the stack sets, and why it need not be set
// (test/infra/environment.test.ts: every variable the bundled code reads is set in the synthesized function or
// listed here; every variable the stack sets is read).

/** Set by the Lambda runtime itself. */
export const LAMBDA_RUNTIME_ENV = [
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_FUNCTION_NAME',
] as const;

/** Read with a default in the code: unset on AWS means the default. */
export const OPTIONAL_HANDLER_ENV: Record<string, string> = {
  LOG_LEVEL: 'info',
  POWERTOOLS_SERVICE_NAME: 'harmony-voice-signalling',
  POWERTOOLS_METRICS_NAMESPACE: 'HarmonyVoice',
  REAPER_INTERVAL_MS: 'SWEEP_SCHEDULE.intervalMs (5 s)',
  REAPER_WINDOW_MS: 'the schedule period (60 s)',
  VOICE_RATE_BURST: 'DEFAULT_RATE_LIMIT',
  VOICE_RATE_PER_SECOND: 'DEFAULT_RATE_LIMIT',
  VOICE_INITIALIZE_WITHIN_MS: 'DEFAULT_LIMITS',
  VOICE_PREPARE_WITHIN_MS: 'DEFAULT_LIMITS',
  VOICE_JOIN_WITHIN_MS: 'DEFAULT_LIMITS',
  VOICE_MAX_MEMBERS: 'DEFAULT_LIMITS',
  VOICE_NODE_STALE_AFTER_MS: 'DEFAULT_LIMITS',
  VOICE_STEP_WITHIN_MS: 'DEFAULT_LIMITS',
  VOICE_RESUME_GRACE_MS: 'DEFAULT_LIMITS',
  VOICE_TEXT_FRAMES_ONLY: 'binary frames allowed (the stack sets 1: API Gateway carries text only)',
  TOKEN_AUDIENCE: 'not checked (config tokenAudience)',
  TOKEN_USER_CLAIM: 'sub',
  TOKEN_GRANTS_CLAIM: 'channels',
  TOKEN_MODERATE_CLAIM: 'moderates',
  TOKEN_ALGORITHMS: 'from the key type',
  TOKEN_CLOCK_TOLERANCE_SECONDS: 'token-config default',
  TOKEN_JWKS_CACHE_MAX_AGE_MS: 'token-config default',
  TOKEN_JWKS_COOLDOWN_MS: 'token-config default',
  TOKEN_JWKS_MAX_STALE_MS: 'token-config default (1 h)',
  TOKEN_AUDIENCE_WAIVED:
    'unset: an audience is required on Lambda (config tokenAudience; -c tokenAudienceWaived=true sets it)',
  CONNECTIONS_ENDPOINT: 'derived from the WebSocket event (the stack sets it for the reaper, whose event has none)',
  // relay.v1 (functions/handlers/relay-env.ts): read by the runtime of the handlers that call media nodes; set on $default only with -c relays=true.
  VOICE_RELAY_URLS: 'unset: no relays, relay.v1 is not granted (the stack sets it on $default with -c relays=true)',
  VOICE_RELAY_SECRET_ARN: 'unset without relays (the stack sets it on $default with -c relays=true)',
  VOICE_RELAY_SECRET: "the local stack's choice (a plain secret); AWS uses VOICE_RELAY_SECRET_ARN",
  VOICE_RELAY_TTL_SECONDS: 'DEFAULT_RELAY_TTL_S (600)',
};

/** One of each group is set (the stack sets one; the others are other deployments' or the local stack's choice). */
export const ALTERNATIVE_HANDLER_ENV: Record<string, readonly string[]> = {
  'token key': ['TOKEN_JWKS_URL', 'TOKEN_JWKS', 'TOKEN_PUBLIC_KEY', 'TOKEN_PUBLIC_KEY_PARAMETER'],
  'media node secret': ['MEDIA_NODE_SECRET_ARN', 'MEDIA_NODE_SECRET', 'MEDIA_GRPC_INSECURE'],
};

/** Read only by the local stack's configuration (dynalite's endpoint); never set on AWS. */
export const LOCAL_ONLY_HANDLER_ENV = ['AWS_ENDPOINT_URL_DYNAMODB'] as const;

/** Read by Node.js itself, not by the code. */
export const NODE_ENV_VARS = ['NODE_OPTIONS'] as const;
