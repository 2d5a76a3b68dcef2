// Deployment ordering, checked on a synthesized template: CloudFormation creates a resource after those it
// references (Ref, Fn::GetAtt, Fn::Sub) or lists in DependsOn, and in any order otherwise. A property that names
// another resource of the same template by key or by a literal name is no reference, so when the service checks
// that name at create time (API Gateway's RouteSettings, a permission naming a function by name, ...) the
// resource needs an explicit dependency. This finds every such name and reports those without one. Pure.

export interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  [key: string]: unknown;
}
export interface TemplateJson {
  Resources: Record<string, TemplateResource>;
}

export interface NameReference {
  /** The resource that names another. */
  readonly from: string;
  /** The resource it names. */
  readonly to: string;
  /** Where: property path and the name used. */
  readonly via: string;
}

/**
 * Properties read only at run time (by code on an instance or in a function, by a dashboard), never checked by
 * CloudFormation or the service when the resource is created: naming a resource there needs no ordering.
 */
export const RUNTIME_ONLY_PROPERTIES: Record<string, string> = {
  UserData: 'a script the instance runs after launch',
  PolicyDocument: 'IAM evaluates ARNs and names at request time; a policy may name what does not exist yet',
  AssumeRolePolicyDocument: 'principals are services here',
  DashboardBody: 'a dashboard renders whatever exists when viewed',
  Dimensions: "an alarm's or policy's metric dimensions may name what has not published yet",
  Description: 'free text',
  AlarmDescription: 'free text',
  Environment: "a function's environment is read by its code when invoked",
};

/** Properties by which resources carry a literal, user-chosen name or key that others may use instead of a Ref. */
const NAME_PROPERTIES = /^(?:[A-Za-z]*Name|RouteKey)$/;
/** Name-like properties that name no resource (a metric, an attribute, a device of the instance itself). */
const NOT_RESOURCE_NAMES = new Set(['MetricName', 'AttributeName', 'DeviceName', 'IndexName', 'ExtendedStatistic']);

/** Logical ids `resource` refers to directly (Ref, GetAtt, Sub, DependsOn). */
export function directDependencies(resource: TemplateResource, ids: ReadonlySet<string>): Set<string> {
  const out = new Set<string>([resource.DependsOn ?? []].flat());
  const visit = (v: unknown) => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'Ref' && typeof x === 'string' && ids.has(x)) out.add(x);
      else if (k === 'Fn::GetAtt') {
        const target = Array.isArray(x) ? x[0] : typeof x === 'string' ? x.split('.')[0] : undefined;
        if (typeof target === 'string' && ids.has(target)) out.add(target);
      } else if (k === 'Fn::Sub') {
        const text = Array.isArray(x) ? x[0] : x;
        if (typeof text === 'string')
          for (const m of text.matchAll(/\$\{([A-Za-z0-9]+)(?:\.[^}]*)?\}/g)) if (ids.has(m[1]!)) out.add(m[1]!);
      }
      visit(x);
    }
  };
  visit(resource.Properties ?? {});
  return out;
}

/** Whether `from` is created after `to` (a chain of references or DependsOn). */
export function dependsOn(template: TemplateJson, from: string, to: string): boolean {
  const ids = new Set(Object.keys(template.Resources));
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length) {
    const id = stack.pop()!;
    for (const dep of directDependencies(template.Resources[id]!, ids)) {
      if (dep === to) return true;
      if (!seen.has(dep)) {
        seen.add(dep);
        stack.push(dep);
      }
    }
  }
  return false;
}

/** Every place a resource names another of the same template by key or literal name. */
export function nameReferences(template: TemplateJson): NameReference[] {
  const refs: NameReference[] = [];
  const resources = Object.entries(template.Resources);

  // WebSocket/HTTP stages: RouteSettings keys are route keys of the stage's API.
  for (const [id, r] of resources) {
    if (r.Type !== 'AWS::ApiGatewayV2::Stage') continue;
    const apiId = JSON.stringify(r.Properties?.ApiId);
    for (const key of Object.keys((r.Properties?.RouteSettings ?? {}) as Record<string, unknown>)) {
      const route = resources.find(
        ([, x]) =>
          x.Type === 'AWS::ApiGatewayV2::Route' &&
          x.Properties?.RouteKey === key &&
          JSON.stringify(x.Properties?.ApiId) === apiId,
      );
      refs.push({ from: id, to: route?.[0] ?? `<no route ${key}>`, via: `RouteSettings.${key}` });
    }
  }

  // Literal names: a string equal to another resource's literal name property, outside run-time-only properties.
  const names = new Map<string, { id: string; property: string }[]>();
  for (const [id, r] of resources) {
    for (const [prop, value] of Object.entries(r.Properties ?? {})) {
      // Its own name: `Name` or `<Type>Name` (AutoScalingGroupName of a group, not of a hook naming its group).
      const own = prop === 'Name' || prop === `${r.Type.split('::')[2]}Name`;
      if (
        !own ||
        !NAME_PROPERTIES.test(prop) ||
        NOT_RESOURCE_NAMES.has(prop) ||
        typeof value !== 'string' ||
        value.length < 3
      )
        continue;
      if (r.Type === 'AWS::ApiGatewayV2::Route' && prop === 'RouteKey') continue; // by key: the stage rule above
      names.set(value, [...(names.get(value) ?? []), { id, property: prop }]);
    }
  }
  for (const [id, r] of resources) {
    const visit = (v: unknown, path: string) => {
      if (Array.isArray(v)) return v.forEach((x, i) => visit(x, `${path}[${i}]`));
      if (typeof v === 'string') {
        for (const target of names.get(v) ?? []) {
          if (target.id !== id)
            refs.push({ from: id, to: target.id, via: `${path} = ${JSON.stringify(v)} (${target.property})` });
        }
        return;
      }
      if (!v || typeof v !== 'object') return;
      for (const [k, x] of Object.entries(v)) {
        if (k in RUNTIME_ONLY_PROPERTIES) continue;
        visit(x, path ? `${path}.${k}` : k);
      }
    };
    visit(r.Properties ?? {}, '');
  }
  return refs;
}

/** The name references without a dependency (empty = every named resource is created first). */
export function unorderedReferences(template: TemplateJson): NameReference[] {
  return nameReferences(template).filter(
    (ref) => !template.Resources[ref.to] || !dependsOn(template, ref.from, ref.to),
  );
}
