// Entry point of `cdk synth|deploy` (cdk.json "app"). Settings come from CDK context: see infra/config.ts.
import { App } from 'aws-cdk-lib';
import { buildVoiceApp } from './app';

const app = new App();
buildVoiceApp(app);
app.synth();
