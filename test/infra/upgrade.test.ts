// Upgrades: a deployment from before the state table's two indexes cannot take both in one update
// (DynamoDB creates at most one index per table update, and the stack would roll back); the documented path is
// two deploys, `-c stateTableIndexes=Due` then the default. The AMI stays pinned across deploys unless asked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { indexChanges, refusedIndexChanges } from '../../infra/conformance/index-upgrade';
import type { TemplateJson } from '../../infra/conformance/ordering';
import { DEBIAN_12_AMI_PARAMETER } from '../../infra/media-fleet/ami';
import { STATE_TABLE } from '../../data/tables';
import { resourcesOf, synthVoiceApp } from './synth';

const dataTemplate = (context: Record<string, unknown> = {}) =>
  synthVoiceApp({ skipBundling: true, context }).templates.data.toJSON() as TemplateJson;

describe('upgrade path', () => {
  const full = dataTemplate();
  const stateId = Object.entries(full.Resources).find(
    ([, r]) =>
      r.Type === 'AWS::DynamoDB::Table' && (r.Properties!.GlobalSecondaryIndexes as unknown[] | undefined)?.length,
  )![0];
  // The deployed template of a version before the indexes: the same table without them.
  const before = structuredClone(full);
  delete before.Resources[stateId]!.Properties!.GlobalSecondaryIndexes;

  it('a direct update from before the indexes would be refused (two index creations in one table update)', () => {
    assert.deepEqual(refusedIndexChanges(before, full), [
      { table: stateId, created: STATE_TABLE.indexes!.map((i) => i.indexName), deleted: [] },
    ]);
  });

  it('the documented two-step path creates one index per deploy', () => {
    const step1 = dataTemplate({ stateTableIndexes: 'Due' });
    assert.deepEqual(indexChanges(before, step1), [{ table: stateId, created: ['Due'], deleted: [] }]);
    assert.deepEqual(refusedIndexChanges(before, step1), []);
    assert.deepEqual(indexChanges(step1, full), [{ table: stateId, created: ['ByNode'], deleted: [] }]);
    assert.deepEqual(refusedIndexChanges(step1, full), []);
    assert.throws(() => dataTemplate({ stateTableIndexes: 'Nope' }), /infra\.config\.stateTableIndexes/);
  });

  it('a fresh deploy creates the table with both indexes at once', () => {
    assert.deepEqual(indexChanges({ Resources: {} }, full), []);
    assert.equal((full.Resources[stateId]!.Properties!.GlobalSecondaryIndexes as unknown[]).length, 2);
  });

  it('pins the AMI: an explicit id, or a lookup cached in cdk.context.json when the environment is known', () => {
    const pinned = synthVoiceApp({ skipBundling: true, context: { mediaNodeAmi: 'ami-0123456789abcdef0' } });
    const [, lt] = resourcesOf(pinned.templates.mediaFleet, 'AWS::EC2::LaunchTemplate')[0]!;
    assert.equal(lt.Properties.LaunchTemplateData.ImageId, 'ami-0123456789abcdef0');
    assert.ok(
      !JSON.stringify(pinned.templates.mediaFleet.toJSON().Parameters ?? {}).includes(DEBIAN_12_AMI_PARAMETER.x86_64),
      'no deploy-time lookup',
    );
    // With an account and Region the lookup is a context value (the CLI stores it in cdk.context.json on first synth).
    const key = `ssm:account=111111111111:parameterName=${DEBIAN_12_AMI_PARAMETER.x86_64}:region=eu-west-1`;
    const cached = synthVoiceApp({
      skipBundling: true,
      context: { account: '111111111111', region: 'eu-west-1', [key]: 'ami-0fedcba9876543210' },
    });
    const [, lt2] = resourcesOf(cached.templates.mediaFleet, 'AWS::EC2::LaunchTemplate')[0]!;
    assert.equal(lt2.Properties.LaunchTemplateData.ImageId, 'ami-0fedcba9876543210');
    // Environment-agnostic: resolved at each deploy, and the synth says so.
    const agnostic = synthVoiceApp({ skipBundling: true });
    const warnings = agnostic.app.node
      .findAll()
      .flatMap((c) => c.node.metadata)
      .filter((m) => m.type === 'aws:cdk:warning')
      .map((m) => String(m.data));
    assert.ok(
      warnings.some((w) => w.includes('media node AMI is resolved at each deploy')),
      warnings.join('\n'),
    );
  });
});
