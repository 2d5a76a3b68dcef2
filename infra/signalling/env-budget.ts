// Lambda refuses a function whose environment variables exceed 4 KB in total (keys and values), and only at
// deploy time, after the rest of the stack was created. Values that CloudFormation resolves (table names, ARNs,
// the callback URL, the SSM key in TOKEN_PUBLIC_KEY) are unknown at synth, so each counts at a bound: the key at
// config `tokenPublicKeyMaxBytes`, the others at what their service allows in practice. A function whose bound
// exceeds 4 KB fails the synth, naming the setting to change. test/infra/environment.test.ts checks the bound.
import { Stack, Token } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';

/** Lambda's limit on a function's environment variables, keys and values together. */
export const LAMBDA_ENV_LIMIT_BYTES = 4096;
/** A resolved-at-deploy value other than the key: table names (≤ 255), ARNs, the stage's callback URL. */
export const UNRESOLVED_VALUE_BOUND_BYTES = 256;

/** The most bytes `environment` can take once deployed. */
export function environmentBound(environment: Record<string, unknown>, bounds: Record<string, number> = {}): number {
  let total = 0;
  for (const [key, value] of Object.entries(environment)) {
    total += Buffer.byteLength(key);
    const known = typeof value === 'string' && !Token.isUnresolved(value) && !value.includes('{{resolve:');
    total += bounds[key] ?? (known ? Buffer.byteLength(value) : UNRESOLVED_VALUE_BOUND_BYTES);
  }
  return total;
}

/** A function's environment variables as synthesized (CloudFormation intrinsics where values resolve at deploy). */
export function synthesizedEnvironment(fn: IConstruct): Record<string, unknown> {
  const cfn = fn.node.defaultChild as CfnFunction;
  const env = Stack.of(fn).resolve(cfn.environment) as { variables?: Record<string, unknown> } | undefined;
  return env?.variables ?? {};
}

/** Fails the synth of function `scope` when its environment (read at synth, after every addEnvironment) may exceed 4 KB. */
export function refuseOversizedEnvironment(scope: IConstruct, bounds: Record<string, number>): void {
  scope.node.addValidation({
    validate: () => {
      const bound = environmentBound(synthesizedEnvironment(scope), bounds);
      return bound <= LAMBDA_ENV_LIMIT_BYTES
        ? []
        : [
            `infra.env-budget: ${scope.node.path}: its environment may reach ${bound} bytes once deployed, over Lambda's ${LAMBDA_ENV_LIMIT_BYTES}-byte limit ` +
              `(TOKEN_PUBLIC_KEY counted at tokenPublicKeyMaxBytes=${bounds.TOKEN_PUBLIC_KEY ?? 0}); serve a large JWKS at tokenJwksUrl instead of SSM`,
          ];
    },
  });
}
