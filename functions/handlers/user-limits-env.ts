// The per-user limits' environment variables (functions/voice/user-limits.ts): read by every handler's runtime
// (functions/handlers/runtime.ts), set explicitly by the CDK stack on every function (infra/signalling-stack.ts).
import { DEFAULT_USER_LIMITS, type UserLimitSettings } from '../voice/user-limits';

export const USER_LIMIT_VARS: Record<string, keyof UserLimitSettings> = {
  VOICE_USER_MAX_STREAMS: 'maxStreamsPerUser',
  VOICE_USER_CONNECTS_PER_MINUTE: 'connectsPerUserPerMinute',
  VOICE_USER_JOINS_PER_MINUTE: 'joinsPerUserPerMinute',
  VOICE_USER_REPLACEMENTS_PER_MINUTE: 'replacementsPerUserPerMinute',
  VOICE_USER_MAX_PREPARED: 'maxPreparedPerUser',
  VOICE_CHANNEL_MAX_PREPARED: 'maxPreparedPerChannel',
};

/** The per-user limits set in the environment (positive integers; the rest keep DEFAULT_USER_LIMITS). */
export function userLimitsFrom(env: NodeJS.ProcessEnv): Partial<UserLimitSettings> {
  const limits: Partial<UserLimitSettings> = {};
  for (const [name, field] of Object.entries(USER_LIMIT_VARS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`config.bad-limit: ${name}=${value} is not a positive integer`);
    limits[field] = n;
  }
  return limits;
}

/** The defaults as a function's environment (the stack sets them, so an operator sees and tunes them). */
export function userLimitsEnvironment(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(USER_LIMIT_VARS).map(([name, field]) => [name, String(DEFAULT_USER_LIMITS[field])]),
  );
}
