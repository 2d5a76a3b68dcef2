// Invoking handler modules the way Lambda does: a fresh context per invocation with a deadline, the
// result normalised as a proxy integration reads it, errors caught and reported instead of thrown.
import type { Context } from 'aws-lambda';
import { lambdaRequestId } from './ids';

export interface ProxyResult {
  statusCode: number;
  headers?: Record<string, string | number | boolean>;
  multiValueHeaders?: Record<string, Array<string | number | boolean>>;
  body?: string;
  isBase64Encoded?: boolean;
}

/**
 * A handler module's `handler` export. The event is `any` so handlers typed against @types/aws-lambda
 * (e.g. APIGatewayProxyWebsocketHandlerV2, which also declares a callback) plug in unchanged.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LambdaHandler = (
  event: any,
  context: Context,
  callback: (error?: unknown, result?: unknown) => void,
) => unknown;

export type Invocation =
  | { ok: true; result: ProxyResult | undefined; requestId: string; durationMs: number }
  | { ok: false; error: Error; requestId: string; durationMs: number };

export function lambdaContext(functionName: string, timeoutMs: number, now = Date.now()): Context {
  const deadline = now + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: lambdaRequestId(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupportedCallback,
    fail: unsupportedCallback,
    succeed: unsupportedCallback,
  };
}

export async function invoke(
  handler: LambdaHandler,
  event: unknown,
  functionName: string,
  timeoutMs: number,
): Promise<Invocation> {
  const context = lambdaContext(functionName, timeoutMs);
  const started = performance.now();
  const durationMs = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const value = await handler(event, context, unsupportedCallback);
    return { ok: true, result: asProxyResult(value), requestId: context.awsRequestId, durationMs: durationMs() };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    return { ok: false, error, requestId: context.awsRequestId, durationMs: durationMs() };
  }
}

function unsupportedCallback(): never {
  throw new Error('callback-style handlers are not supported: return a Promise');
}

function asProxyResult(value: unknown): ProxyResult | undefined {
  if (value && typeof value === 'object' && typeof (value as ProxyResult).statusCode === 'number')
    return value as ProxyResult;
  return undefined;
}

/** A response header by name, any case; multiValueHeaders win like API Gateway merges them. */
export function resultHeader(result: ProxyResult, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(result.multiValueHeaders ?? {}))
    if (k.toLowerCase() === lower) return v.join(',');
  for (const [k, v] of Object.entries(result.headers ?? {})) if (k.toLowerCase() === lower) return String(v);
  return undefined;
}

export function resultBody(result: ProxyResult): Buffer {
  if (result.body === undefined) return Buffer.alloc(0);
  return result.isBase64Encoded ? Buffer.from(result.body, 'base64') : Buffer.from(result.body, 'utf8');
}
