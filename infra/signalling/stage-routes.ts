// Per-route settings of a WebSocket stage, created after the routes they name. API Gateway refuses a stage
// whose RouteSettings name a route key that does not exist yet ("Unable to find Route by key $connect within
// the provided RouteSettings"), and CloudFormation orders resources only by references: RouteSettings name
// routes by key, which is no reference, so the stage must depend on each named route explicitly (the $connect
// route waits on a VPC function and is created late). test/infra/ordering.test.ts checks this for every stage.
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { CfnRoute } from 'aws-cdk-lib/aws-apigatewayv2';

export interface RouteThrottle {
  readonly ThrottlingRateLimit: number;
  readonly ThrottlingBurstLimit: number;
}

/** Sets the stage's RouteSettings and makes the stage depend on every route they name. */
export function setRouteSettings(
  stage: apigwv2.WebSocketStage,
  api: apigwv2.WebSocketApi,
  settings: Record<string, RouteThrottle>,
): void {
  const routes = api.node.findAll().filter((c): c is CfnRoute => c instanceof CfnRoute);
  for (const key of Object.keys(settings)) {
    const route = routes.find((r) => r.routeKey === key);
    if (!route) throw new Error(`infra.route-settings: the stage names route ${key}, which the API does not have`);
    stage.node.addDependency(route);
  }
  (stage.node.defaultChild as apigwv2.CfnStage).routeSettings = settings;
}
