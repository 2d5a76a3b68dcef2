// The media nodes' image, pinned per deploy: a deploy boots the same AMI as the previous one unless asked to
// move, so publishing a new Debian image never starts a rolling replacement by itself.
//   -c mediaNodeAmi=ami-…         exactly that image (any Region the id exists in)
//   an account and Region given   the official Debian 12 AMI looked up once at synth and kept in cdk.context.json
//                                 (commit it); `cdk context --reset <key>` moves it to the current image
//   environment-agnostic synth    resolved by CloudFormation at each deploy from Debian's public SSM parameter:
//                                 the only case that follows Debian's releases, warned about at synth
import { Annotations, type Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { InfraConfig } from '../config';

/** The Debian cloud team's public SSM parameters of the current official Debian 12 AMIs. */
export const DEBIAN_12_AMI_PARAMETER = {
  x86_64: '/aws/service/debian/release/12/latest/amd64',
  arm64: '/aws/service/debian/release/12/latest/arm64',
};

export type AmiPinning = 'explicit' | 'context' | 'deploy-time';

export function amiPinning(stack: Stack, config: Pick<InfraConfig, 'mediaNodeAmi'>): AmiPinning {
  if (config.mediaNodeAmi) return 'explicit';
  return Token.isUnresolved(stack.region) || Token.isUnresolved(stack.account) ? 'deploy-time' : 'context';
}

export function mediaNodeImage(
  stack: Stack,
  config: Pick<InfraConfig, 'mediaNodeAmi'>,
  arm: boolean,
): ec2.IMachineImage {
  const parameter = arm ? DEBIAN_12_AMI_PARAMETER.arm64 : DEBIAN_12_AMI_PARAMETER.x86_64;
  switch (amiPinning(stack, config)) {
    case 'explicit':
      return {
        getImage: () => ({
          imageId: config.mediaNodeAmi,
          osType: ec2.OperatingSystemType.LINUX,
          userData: ec2.UserData.forLinux(),
        }),
      };
    case 'context':
      return ec2.MachineImage.fromSsmParameter(parameter, { os: ec2.OperatingSystemType.LINUX, cachedInContext: true });
    case 'deploy-time':
      Annotations.of(stack).addWarningV2(
        'harmony:ami-follows-debian',
        'The media node AMI is resolved at each deploy (no account/region at synth, no -c mediaNodeAmi): a new Debian image replaces every node. Pin it with -c mediaNodeAmi=ami-… or synth with an account and Region.',
      );
      return ec2.MachineImage.fromSsmParameter(parameter, { os: ec2.OperatingSystemType.LINUX });
  }
}
