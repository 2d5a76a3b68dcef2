// The account-wide role API Gateway writes access logs with (one per account and Region). API Gateway checks it
// by assuming it when the AWS::ApiGateway::Account is set, and a role created seconds earlier may not be
// assumable yet (IAM propagation): "The role ARN does not have required permissions set to API Gateway". So the
// role is created in the Network stack, which CloudFormation deploys minutes before the Signalling stack (its NAT
// gateway alone takes that long), and the Signalling stack only points the account at it. Retained on delete:
// other APIs in the account may rely on it.
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

export function apiGatewayLogsRole(scope: Construct, id = 'ApiGatewayLogsRole'): iam.Role {
  const role = new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
    managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs')],
  });
  role.applyRemovalPolicy(RemovalPolicy.RETAIN);
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
    reason: 'The AWS-maintained policy API Gateway documents for its logging role; scoped to CloudWatch Logs.',
  });
  return role;
}
