// Every launch of a media node is held out of service until the node serves: a launch lifecycle hook on the
// group itself (LifecycleHookSpecificationList, so it applies from the group's creation on, to the first nodes
// as much as to rolling updates, scale-outs and replacements). The host completes it with CONTINUE after the
// node logged `media-node.ready` (host/boot-fail.sh boot_ready) and with ABANDON on any boot failure; a host
// that says nothing is abandoned when the heartbeat timeout ends. An abandoned launch is terminated and
// replaced by the group, so a broken node never holds a maxNodes slot while serving nothing.
import type { Duration } from 'aws-cdk-lib';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import type { CfnAutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';

export const LAUNCH_HOOK_NAME = 'launch-media-node';

export function holdLaunchesUntilReady(group: autoscaling.AutoScalingGroup, readyTimeout: Duration): void {
  const cfn = group.node.defaultChild as CfnAutoScalingGroup;
  const existing = (cfn.lifecycleHookSpecificationList ??
    []) as CfnAutoScalingGroup.LifecycleHookSpecificationProperty[];
  cfn.lifecycleHookSpecificationList = [
    ...existing,
    {
      lifecycleHookName: LAUNCH_HOOK_NAME,
      lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      heartbeatTimeout: readyTimeout.toSeconds(),
      defaultResult: 'ABANDON',
    },
  ];
}
