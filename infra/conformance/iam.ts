// A function's grants as IAM would read them from a synthesized template: its role's inline policies, each
// (action, resource) with the resource named the way test/support/aws-call-recorder.ts names a call's target
// (table:<stem>[/index/<name>], connections:<METHOD>, secret:<logical id>). Pure.
import type { TemplateJson } from './ordering';

export interface Grant {
  readonly action: string;
  readonly resource: string;
}

/** Table stems by the logical id of their resource in the data stack (data/tables.ts logicalId). */
export type TableStems = Record<string, string>;

export function normalizeResource(resource: unknown, tables: TableStems): string {
  const text = JSON.stringify(resource);
  const connections = /\/(GET|POST|DELETE)\/@connections\//.exec(text);
  if (connections) return `connections:${connections[1]}`;
  for (const [logicalId, stem] of Object.entries(tables)) {
    if (!text.includes(logicalId)) continue;
    const index = /\/index\/([A-Za-z0-9_.-]+)/.exec(text);
    return `table:${stem}${index ? `/index/${index[1]}` : ''}`;
  }
  const secret = /(?:Ref|")([A-Z][A-Za-z]*Secret)[0-9A-F]{8}/.exec(text);
  if (secret) return `secret:${secret[1]}`;
  return text;
}

/** The (action, resource) pairs a function's role grants through its inline policies. */
export function functionGrants(template: TemplateJson, functionId: string, tables: TableStems): Grant[] {
  const fn = template.Resources[functionId]!;
  const roleId = (fn.Properties!.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  const grants: Grant[] = [];
  for (const r of Object.values(template.Resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    const roles = (r.Properties!.Roles as { Ref: string }[]).map((x) => x.Ref);
    if (!roles.includes(roleId)) continue;
    for (const st of (
      r.Properties!.PolicyDocument as { Statement: { Effect: string; Action: string | string[]; Resource: unknown }[] }
    ).Statement) {
      if (st.Effect !== 'Allow') continue;
      for (const action of [st.Action].flat())
        for (const resource of [st.Resource].flat())
          grants.push({ action, resource: normalizeResource(resource, tables) });
    }
  }
  return grants;
}
