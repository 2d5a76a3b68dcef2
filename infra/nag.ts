// Helpers for cdk-nag acknowledgements, whose finding ids spell ARNs the way cdk-nag renders them.
import { type Stack, Token } from 'aws-cdk-lib';

/** `arn:<AWS::Partition>:<service>:<region>:<account>` as cdk-nag prints it for this stack. */
export function arnForNag(stack: Stack, service: string): string {
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  return `arn:<AWS::Partition>:${service}:${region}:${account}`;
}
