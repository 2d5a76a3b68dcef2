import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, configFromContext, DEFAULTS, pipePortRange, rtcPortRange } from '../../infra/config';
import { DEFAULT_PIPE_PORTS } from '../../media-node/src/span/pipe-ports';

/** Context as a deployment gives it: with the tokens' audience (required), unless the test says otherwise. */
const fromContext = (context: Record<string, unknown>, env: NodeJS.ProcessEnv = { CDK_DEFAULT_REGION: 'eu-west-1' }) =>
  configFromContext((k) => ({ tokenAudience: 'harmony-voice', ...context })[k], env);

describe('infra config', () => {
  it("requires the tokens' audience: synth refuses without tokenAudience unless explicitly waived", () => {
    const bare = (context: Record<string, unknown>) =>
      configFromContext((k) => ({ region: 'eu-west-1', ...context })[k], {});
    const refusedFor = (key: string) => (e: unknown) => e instanceof ConfigError && e.key === key;
    assert.throws(() => bare({}), refusedFor('tokenAudience'));
    assert.throws(() => bare({ tokenAudience: ' , ' }), refusedFor('tokenAudience'));
    assert.equal(bare({ tokenAudience: 'https://voice.example.org' }).tokenAudience, 'https://voice.example.org');
    assert.equal(bare({ tokenAudienceWaived: 'true' }).tokenAudienceWaived, true);
    assert.throws(() => bare({ tokenAudience: 'x', tokenAudienceWaived: true }), refusedFor('tokenAudienceWaived'));
  });

  it('defaults to a small production-shaped deployment, region from the CLI environment', () => {
    const config = fromContext({}, { CDK_DEFAULT_REGION: 'us-east-1' });
    assert.deepEqual(
      { ...config, region: undefined },
      { ...DEFAULTS, tokenAudience: 'harmony-voice', region: undefined, account: undefined },
    );
    assert.equal(config.region, 'us-east-1');
    assert.equal(
      fromContext({ frontDoor: false }, {}).region,
      undefined,
      'environment-agnostic without the front door',
    );
    // One truth for the pipe ports: the media node's default range.
    assert.deepEqual(pipePortRange(config), DEFAULT_PIPE_PORTS);
    assert.deepEqual(pipePortRange(fromContext({ pipePortMin: '46000', pipePortMax: '46099' })), {
      min: 46000,
      max: 46099,
    });
  });

  it('parses `-c key=value` strings', () => {
    const config = fromContext({
      region: 'eu-west-1',
      instanceType: 'c7gn.large',
      minNodes: '2',
      maxNodes: '8',
      mediaWorkers: '4',
      rtcPortBase: '44000',
      tokenIssuer: 'https://chat.example.org',
      sessionManager: 'false',
      dataRemoval: 'retain',
      lambdaRuntime: 'nodejs24.x',
      natGateways: '2',
    });
    assert.equal(config.region, 'eu-west-1');
    assert.equal(config.instanceType, 'c7gn.large');
    assert.equal(config.minNodes, 2);
    assert.equal(config.maxNodes, 8);
    assert.deepEqual(rtcPortRange(config), { first: 44000, last: 44003 });
    assert.equal(config.tokenIssuer, 'https://chat.example.org');
    assert.equal(config.sessionManager, false);
    assert.equal(config.dataRemoval, 'retain');
    assert.equal(config.lambdaRuntime, 'nodejs24.x');
    assert.equal(config.natGateways, 2);
  });

  it('rejects settings that cannot deploy or would collide', () => {
    const rejects = (context: Record<string, unknown>, key: string) =>
      assert.throws(
        () => fromContext(context),
        (e: unknown) => e instanceof ConfigError && e.key === key,
        JSON.stringify(context),
      );
    rejects({ minNodes: 3, maxNodes: 2 }, 'maxNodes');
    rejects({ grpcPort: 40001 }, 'grpcPort');
    rejects({ metricsPort: 40000, mediaWorkers: 2 }, 'metricsPort');
    rejects({ rtcPortBase: 65535, mediaWorkers: 2 }, 'rtcPortBase');
    rejects({ minNodes: 'two' }, 'minNodes');
    rejects({ dataRemoval: 'snapshot' }, 'dataRemoval');
    rejects({ logRetentionDays: 31 }, 'logRetentionDays');
    rejects({ tokenPublicKeyParameter: 'no-leading-slash' }, 'tokenPublicKeyParameter');
    rejects({ instanceType: 'large' }, 'instanceType');
    rejects({ natGateways: 3 }, 'natGateways');
    rejects({ drainTimeoutSeconds: 7000 }, 'drainTimeoutSeconds'); // + hook margin would pass the 7200 s heartbeat limit
    rejects({ lambdaRuntime: 'nodejs18.x' }, 'lambdaRuntime');
    rejects({ lambdaRuntime: 'nodejs20.x' }, 'lambdaRuntime'); // deprecated by Lambda
    rejects({ lambdaRuntime: 'nodejs22.x' }, 'lambdaRuntime'); // not the Node.js the project is tested on
    rejects({ minNodes: 0 }, 'minNodes'); // an empty fleet publishes no load metric and could never scale out
    rejects({ sessionManager: 'yes' }, 'sessionManager');
    rejects({ reaperShardGroups: 6 }, 'reaperShardGroups'); // an EventBridge rule takes at most 5 targets
    rejects({ reaperShardGroups: 0 }, 'reaperShardGroups');
    rejects({ reaperReservedConcurrency: -1 }, 'reaperReservedConcurrency');
    rejects({ reaperReservedConcurrency: 0 }, 'reaperReservedConcurrency'); // a flood would starve the sweep
    rejects({ reaperReservedConcurrency: 3, reaperShardGroups: 4 }, 'reaperReservedConcurrency'); // one per group at least
    rejects({ connectReservedConcurrency: 0 }, 'connectReservedConcurrency');
    rejects({ defaultReservedConcurrency: 0 }, 'defaultReservedConcurrency');
    rejects({ defaultReservedConcurrency: 'lots' }, 'defaultReservedConcurrency');
    rejects({ frontDoorUpgradesPerIpPerMinute: 9 }, 'frontDoorUpgradesPerIpPerMinute'); // WAF's minimum is 10
    rejects({ tokenGraceSeconds: 0 }, 'tokenGraceSeconds');
    assert.throws(
      () => fromContext({}, {}),
      (e: unknown) => e instanceof ConfigError && e.key === 'frontDoor',
      'the front door needs a region',
    );
    rejects({ pipePortMin: 45100, pipePortMax: 45099 }, 'pipePortMax');
    rejects({ pipePortMin: 40001, pipePortMax: 40100 }, 'pipePortMin'); // overlaps the RTC ports 40000..40001
    rejects({ grpcPort: 45500 }, 'grpcPort'); // inside the default pipe range
    rejects({ metricsPort: 45000 }, 'metricsPort');
    rejects({ pipePortMin: 1000 }, 'pipePortMin');
  });
});
