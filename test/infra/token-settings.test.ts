// The token issuer settings as CDK context: a JWKS URL (no SSM read), audience and claim names reach every
// handler's environment; without a JWKS URL the SSM parameter stays the key source (the default deployment).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ConfigError, configFromContext, DEFAULTS } from '../../infra/config';
import { HANDLERS, tokenEnvironment } from '../../infra/signalling-stack';
import { resourcesOf, synthVoiceApp, type Synthesized } from './synth';

const fromContext = (context: Record<string, unknown>) =>
  configFromContext((k) => ({ region: 'eu-west-1', ...context })[k], {});
const ISSUER_CONTEXT = {
  tokenIssuer: 'https://id.example.org/',
  tokenJwksUrl: 'https://id.example.org/.well-known/jwks.json',
  tokenAudience: 'harmony-voice',
  tokenUserClaim: 'harmony_user_id',
  tokenGrantsClaim: 'https://harmony.example.org/voice',
  tokenModerateClaim: 'https://harmony.example.org/moderates',
};

describe('token issuer settings (context)', () => {
  it('parses them; an http:// or malformed JWKS URL is refused', () => {
    const config = fromContext(ISSUER_CONTEXT);
    assert.equal(config.tokenJwksUrl, ISSUER_CONTEXT.tokenJwksUrl);
    assert.equal(config.tokenAudience, 'harmony-voice');
    for (const bad of ['http://id.example.org/jwks.json', 'id.example.org/jwks', 'https://']) {
      assert.throws(
        () => fromContext({ tokenAudience: 'v', tokenJwksUrl: bad }),
        (e: unknown) => e instanceof ConfigError && e.key === 'tokenJwksUrl',
        bad,
      );
    }
  });

  it("maps to the handlers' environment: the JWKS URL replaces the key kept in SSM (resolved at deploy time); empty settings are left out", () => {
    const resolve = (name: string) => `{{resolve:ssm:${name}}}`;
    assert.deepEqual(tokenEnvironment(fromContext(ISSUER_CONTEXT), resolve), {
      TOKEN_ISSUER: 'https://id.example.org/',
      TOKEN_JWKS_URL: 'https://id.example.org/.well-known/jwks.json',
      TOKEN_AUDIENCE: 'harmony-voice',
      TOKEN_USER_CLAIM: 'harmony_user_id',
      TOKEN_GRANTS_CLAIM: 'https://harmony.example.org/voice',
      TOKEN_MODERATE_CLAIM: 'https://harmony.example.org/moderates',
    });
    assert.deepEqual(tokenEnvironment({ ...DEFAULTS, tokenAudience: 'v' }, resolve), {
      TOKEN_ISSUER: DEFAULTS.tokenIssuer,
      TOKEN_PUBLIC_KEY: resolve(DEFAULTS.tokenPublicKeyParameter),
      TOKEN_AUDIENCE: 'v',
    });
    // Waived explicitly: the functions are told so (on AWS they refuse to start with no audience otherwise).
    assert.deepEqual(tokenEnvironment(fromContext({ tokenAudienceWaived: true }), resolve), {
      TOKEN_ISSUER: DEFAULTS.tokenIssuer,
      TOKEN_PUBLIC_KEY: resolve(DEFAULTS.tokenPublicKeyParameter),
      TOKEN_AUDIENCE_WAIVED: '1',
    });
  });

  describe('synthesized with a JWKS URL', () => {
    let s: Synthesized;
    before(() => {
      s = synthVoiceApp({ context: ISSUER_CONTEXT, skipBundling: true });
    });

    it('every handler gets the issuer settings, none the SSM parameter', () => {
      const resources = s.templates.signalling.toJSON().Resources as Record<string, any>;
      for (const name of Object.keys(HANDLERS) as (keyof typeof HANDLERS)[]) {
        const id = s.signalling.getLogicalId(s.signalling.functions[name].fn.node.defaultChild as never);
        const vars = resources[id].Properties.Environment.Variables;
        assert.equal(vars.TOKEN_JWKS_URL, ISSUER_CONTEXT.tokenJwksUrl, name);
        assert.equal(vars.TOKEN_AUDIENCE, 'harmony-voice', name);
        assert.equal(vars.TOKEN_USER_CLAIM, 'harmony_user_id', name);
        assert.equal(vars.TOKEN_GRANTS_CLAIM, 'https://harmony.example.org/voice', name);
        assert.equal(vars.TOKEN_MODERATE_CLAIM, 'https://harmony.example.org/moderates', name);
        assert.equal(vars.TOKEN_ISSUER, 'https://id.example.org/', name);
        assert.equal(vars.TOKEN_PUBLIC_KEY_PARAMETER, undefined, name);
        assert.equal(vars.TOKEN_PUBLIC_KEY, undefined, name);
      }
    });

    it('no function may read SSM (least privilege)', () => {
      const actions = resourcesOf(s.templates.signalling, 'AWS::IAM::Policy')
        .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as { Action: string | string[] }[])
        .flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));
      assert.ok(actions.includes('secretsmanager:GetSecretValue'), 'the policies were found');
      assert.ok(!actions.some((a) => a.startsWith('ssm:')), actions.join(', '));
    });
  });
});
