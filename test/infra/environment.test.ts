// The handlers' environment: every variable the bundled code of a handler reads is set in its
// synthesized function, set by Lambda, or documented optional (infra/signalling/handler-env.ts); everything the
// stack sets is read; each function stays under Lambda's 4 KB environment limit, and a token setting that
// would not fit is refused at synth (on main 2cfbf0d a JWKS in SSM could push a function past 4 KB at deploy).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { environmentReads } from '../../infra/conformance/env-reads';
import { environmentBound, LAMBDA_ENV_LIMIT_BYTES } from '../../infra/signalling/env-budget';
import {
  ALTERNATIVE_HANDLER_ENV,
  LAMBDA_RUNTIME_ENV,
  LOCAL_ONLY_HANDLER_ENV,
  NODE_ENV_VARS,
  OPTIONAL_HANDLER_ENV,
} from '../../infra/signalling/handler-env';
import { HANDLERS } from '../../infra/signalling-stack';
import { repoPath } from '../../infra/paths';
import { synthVoiceApp, resourcesOf } from './synth';

/** Names that look like variables in files reading env[name] but are DynamoDB constants. */
const NOT_VARIABLES = new Set(['KEYS_ONLY', 'PAY_PER_REQUEST', 'ALL_NEW', 'UPDATED_OLD']);

describe('handler environment', () => {
  const s = synthVoiceApp({ skipBundling: true });
  const fns = resourcesOf(s.templates.signalling, 'AWS::Lambda::Function');
  const envOf = (name: keyof typeof HANDLERS) => {
    const logicalId = s.signalling.getLogicalId(s.signalling.functions[name].fn.node.defaultChild as never);
    return (fns.find(([id]) => id === logicalId)![1].Properties.Environment?.Variables ?? {}) as Record<
      string,
      unknown
    >;
  };

  for (const name of Object.keys(HANDLERS) as (keyof typeof HANDLERS)[]) {
    it(`${name}: every variable its code reads is set, set by Lambda, or optional; every variable set is read`, () => {
      const reads = environmentReads(repoPath(HANDLERS[name].entry));
      for (const n of NOT_VARIABLES) reads.delete(n);
      assert.ok(
        reads.has('VOICE_STATE_TABLE') && reads.has('LOG_LEVEL'),
        `found the reads: ${[...reads.keys()].join(' ')}`,
      );
      const set = envOf(name);
      const alternatives = Object.values(ALTERNATIVE_HANDLER_ENV).flat();
      const allowed = new Set<string>([
        ...Object.keys(set),
        ...LAMBDA_RUNTIME_ENV,
        ...Object.keys(OPTIONAL_HANDLER_ENV),
        ...alternatives,
        ...LOCAL_ONLY_HANDLER_ENV,
      ]);
      const unset = [...reads.keys()].filter((v) => !allowed.has(v));
      assert.deepEqual(
        unset,
        [],
        `${name} reads ${unset.map((v) => `${v} (${reads.get(v)!.join(', ')})`).join('; ')}, which its function does not set`,
      );
      // One token key source each (every runtime builds the verifier); a media secret only where media nodes are called.
      assert.equal(
        ALTERNATIVE_HANDLER_ENV['token key']!.filter((v) => v in set).length,
        1,
        `${name}: one token key variable`,
      );
      assert.equal(
        ALTERNATIVE_HANDLER_ENV['media node secret']!.filter((v) => v in set).length,
        HANDLERS[name].mediaNodes ? 1 : 0,
        `${name}: a media node secret variable only if it calls media nodes`,
      );
      const unread = Object.keys(set).filter((v) => !reads.has(v) && !(NODE_ENV_VARS as readonly string[]).includes(v));
      assert.deepEqual(unread, [], `${name}: set but never read`);
    });
  }

  it('every function stays under 4 KB with the key in SSM at its bound', () => {
    for (const [id, fn] of fns) {
      const bound = environmentBound(fn.Properties.Environment?.Variables ?? {}, {
        TOKEN_PUBLIC_KEY: s.config.tokenPublicKeyMaxBytes,
      });
      assert.ok(bound <= LAMBDA_ENV_LIMIT_BYTES, `${id}: ${bound} bytes`);
      assert.ok(bound > 1000, `${id}: the bound counts the unresolved values (${bound})`);
    }
  });

  it('refuses at synth a key bound that would not fit, and accepts the same with the keys at a JWKS URL', () => {
    assert.throws(
      () => synthVoiceApp({ skipBundling: true, context: { tokenPublicKeyMaxBytes: 4000 } }),
      /infra\.env-budget: .*over Lambda's 4096-byte limit/s,
    );
    const viaUrl = synthVoiceApp({
      skipBundling: true,
      context: { tokenPublicKeyMaxBytes: 4000, tokenJwksUrl: 'https://id.example.org:8443/jwks.json' },
    });
    viaUrl.templates.signalling.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { TOKEN_JWKS_URL: 'https://id.example.org:8443/jwks.json' } },
    });
  });

  it('a JWKS URL on another port than 443 is reachable: the functions may leave on that port', () => {
    const viaUrl = synthVoiceApp({
      skipBundling: true,
      context: { tokenJwksUrl: 'https://id.example.org:8443/jwks.json' },
    });
    const [, sg] = resourcesOf(viaUrl.templates.network, 'AWS::EC2::SecurityGroup').find(([id]) =>
      id.startsWith('FunctionsSecurityGroup'),
    )!;
    const egress = sg.Properties.SecurityGroupEgress as { FromPort: number; ToPort: number; CidrIp?: string }[];
    assert.ok(
      egress.some((e) => e.FromPort === 8443 && e.ToPort === 8443 && e.CidrIp === '0.0.0.0/0'),
      JSON.stringify(egress),
    );
    const plain = resourcesOf(s.templates.network, 'AWS::EC2::SecurityGroup').find(([id]) =>
      id.startsWith('FunctionsSecurityGroup'),
    )![1];
    assert.ok(
      !(plain.Properties.SecurityGroupEgress as { FromPort: number }[]).some((e) => e.FromPort === 8443),
      'only when a URL names the port',
    );
  });
});
