// Synthesizes the CDK app in-process, the way `cdk synth` does (cdk.json's feature flags, cdk-nag
// registered), into a temporary directory that is removed when the test process ends.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildVoiceApp, type VoiceStacks } from '../../infra/app';
import { repoPath } from '../../infra/paths';

export interface Synthesized extends VoiceStacks {
  readonly app: App;
  readonly templates: {
    network: Template;
    data: Template;
    signalling: Template;
    mediaFleet: Template;
    frontDoorWaf?: Template;
    frontDoor?: Template;
  };
}

export interface SynthOptions {
  /** Extra CDK context (as `-c key=value` would give). */
  readonly context?: Record<string, unknown>;
  /** Skip esbuild bundling (assets get placeholder contents); the templates are otherwise identical. */
  readonly skipBundling?: boolean;
}

export function synthVoiceApp(options: SynthOptions = {}): Synthesized {
  const cdkJson = JSON.parse(readFileSync(repoPath('cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  const outdir = mkdtempSync(join(tmpdir(), 'harmony-cdk-'));
  process.once('exit', () => rmSync(outdir, { recursive: true, force: true }));
  const app = new App({
    outdir,
    context: {
      ...cdkJson.context,
      ...(options.skipBundling ? { 'aws:cdk:bundling-stacks': [] } : {}),
      // Required (synth refuses without it or an explicit waiver): what a deployment sets.
      tokenAudience: 'harmony-voice',
      // The front door (on by default) needs a target region: its WAF is in us-east-1 with a cross-region reference.
      region: 'eu-west-1',
      ...options.context,
    },
  });
  // No CDK_DEFAULT_* from the environment: region-agnostic unless the context names one.
  const stacks = buildVoiceApp(app, {});
  app.synth(); // runs cdk-nag; throws on any unacknowledged error
  return {
    ...stacks,
    app,
    templates: {
      network: Template.fromStack(stacks.network),
      data: Template.fromStack(stacks.data),
      signalling: Template.fromStack(stacks.signalling),
      mediaFleet: Template.fromStack(stacks.mediaFleet),
      ...(stacks.frontDoor && {
        frontDoorWaf: Template.fromStack(stacks.frontDoor.waf),
        frontDoor: Template.fromStack(stacks.frontDoor.distribution),
      }),
    },
  };
}

/** Resources of one type in a template, as [logicalId, resource] pairs. */
export function resourcesOf(
  template: Template,
  type: string,
): [string, { Properties: Record<string, any>; [k: string]: any }][] {
  return Object.entries(template.findResources(type)) as [string, { Properties: Record<string, any> }][];
}
