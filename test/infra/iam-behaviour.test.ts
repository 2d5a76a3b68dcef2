// IAM matches behaviour: the local stack (real handlers, dynalite, a real media node) runs a join,
// a second join, a leave, disconnects and reaper sweeps with every AWS call of each handler recorded as IAM sees
// it (test/support/aws-call-recorder.ts); each recorded (function, action, resource) must be granted by that
// function's synthesized policy, and each grant must be used by a recorded call or by a documented one
// (infra/signalling/documented-calls.ts: paths this run does not take, each with the code that takes them).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { functionGrants, type Grant } from '../../infra/conformance/iam';
import type { TemplateJson } from '../../infra/conformance/ordering';
import { DOCUMENTED_CALLS } from '../../infra/signalling/documented-calls';
import { HANDLERS } from '../../infra/signalling-stack';
import { repoPath } from '../../infra/paths';
import { NODES_TABLE, STATE_TABLE } from '../../data/tables';
import { createLogger } from '../../lib/log';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { handlerWrappers, invocation, recordAwsCalls, type AwsCall } from '../support/aws-call-recorder';
import { joinedClient } from '../support/stack-flow';
import { VoiceTestClient } from '../support/voice-client';
import { waitFor } from '../support/wait';
import { devToken } from '../support/tokens';
import { synthVoiceApp } from './synth';

type Name = keyof typeof HANDLERS;
const NAMES = Object.keys(HANDLERS) as Name[];
const scratch = mkdtempSync(join(tmpdir(), 'harmony-iam-'));
const calls: AwsCall[] = [];
let stack: LocalStack;
let stop: (() => void) | undefined;

before(async () => {
  const dir = join(scratch, 'handlers');
  handlerWrappers(dir, repoPath('functions/handlers'), NAMES);
  // A short Initialize deadline, so the reaper has a stalled session to end (its ending path, recorded for real).
  stack = await startLocalStack({
    port: 0,
    strict: true,
    handlersDir: dir,
    logger: createLogger({ level: 'warn' }),
    handlerEnv: { VOICE_INITIALIZE_WITHIN_MS: '300' },
  });
  const stems: Record<string, string> = {
    [stack.dynamo.tables[STATE_TABLE.envVar]!]: 'state',
    [stack.dynamo.tables[NODES_TABLE.envVar]!]: 'nodes',
  };
  stop = recordAwsCalls(calls, (table) => stems[table] ?? `?${table}`);
  const stalled = await VoiceTestClient.connect({ wsUrl: stack.wsUrl, token: devToken(3n, 5n, [9n]) });
  const a = await joinedClient({ wsUrl: stack.wsUrl, token: devToken(1n, 5n, [9n]) }, 5n, 9n);
  const b = await joinedClient({ wsUrl: stack.wsUrl, token: devToken(2n, 5n, [9n]) }, 5n, 9n);
  await a.client.expect('userJoined');
  b.client.close(); // leaving is disconnecting
  await a.client.expect('userLeft');
  a.client.close();
  await stack.gateway.idle();
  // The reaper ends the connection that never sent Initialize (due 300 ms after connecting).
  await waitFor(
    async () => {
      await stack.runReaper();
      return stalled.closed !== undefined;
    },
    20_000,
    'the stalled connection ended by the reaper',
  );
  assert.equal(invocation.getStore(), undefined);
});
after(async () => {
  stop?.();
  await stack?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('IAM matches behaviour', () => {
  const s = synthVoiceApp({ skipBundling: true });
  const template = s.templates.signalling.toJSON() as TemplateJson;
  const tables = { [STATE_TABLE.logicalId]: 'state', [NODES_TABLE.logicalId]: 'nodes' };
  const grantsOf = (name: Name): Grant[] =>
    functionGrants(
      template,
      s.signalling.getLogicalId(s.signalling.functions[name].fn.node.defaultChild as never),
      tables,
    );
  const key = (g: { action: string; resource: string }) => `${g.action} ${g.resource}`;

  it('the run exercised every handler', () => {
    for (const name of NAMES)
      assert.ok(
        calls.some((c) => c.fn === name),
        `${name} made AWS calls (${calls.length} recorded)`,
      );
    assert.deepEqual(
      calls.filter((c) => c.action.startsWith('unknown:')),
      [],
      'every call is understood',
    );
  });

  for (const name of NAMES) {
    it(`${name}: every recorded call is granted, and every grant is used by a recorded or documented call`, () => {
      const grants = grantsOf(name);
      const granted = new Set(grants.map(key));
      const recorded = new Set(calls.filter((c) => c.fn === name).map(key));
      const denied = [...recorded].filter((c) => !granted.has(c));
      assert.deepEqual(denied, [], `${name} would be denied on AWS`);
      const documented = DOCUMENTED_CALLS.filter((d) => d.fn === name);
      for (const d of documented)
        assert.ok(!recorded.has(key(d)), `${name}: ${key(d)} is documented but was recorded anyway: drop the entry`);
      const unused = [...granted].filter((g) => !recorded.has(g) && !documented.some((d) => key(d) === g));
      assert.deepEqual(unused, [], `${name}: granted, but no recorded or documented call uses it`);
    });
  }
});
