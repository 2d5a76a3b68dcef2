// Whether CloudFormation can move a deployed template to a new one without DynamoDB refusing the table update:
// one UpdateTable creates or deletes at most one global secondary index ("Cannot perform more than one GSI
// creation or deletion in a single update"). Pure; test/infra/upgrade.test.ts runs the documented upgrade path.
import type { TemplateJson } from './ordering';

export interface IndexChange {
  readonly table: string;
  readonly created: string[];
  readonly deleted: string[];
}

function indexesOf(template: TemplateJson): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type !== 'AWS::DynamoDB::Table') continue;
    const gsis = (r.Properties?.GlobalSecondaryIndexes ?? []) as { IndexName: string }[];
    out.set(id, new Set(gsis.map((g) => g.IndexName)));
  }
  return out;
}

export function indexChanges(previous: TemplateJson, next: TemplateJson): IndexChange[] {
  const before = indexesOf(previous);
  const changes: IndexChange[] = [];
  for (const [table, after] of indexesOf(next)) {
    const had = before.get(table);
    if (!had) continue; // a new table is created with all its indexes at once
    const created = [...after].filter((i) => !had.has(i));
    const deleted = [...had].filter((i) => !after.has(i));
    if (created.length || deleted.length) changes.push({ table, created, deleted });
  }
  return changes;
}

/** The changes DynamoDB would refuse in one update (more than one index created or deleted on a table). */
export function refusedIndexChanges(previous: TemplateJson, next: TemplateJson): IndexChange[] {
  return indexChanges(previous, next).filter((c) => c.created.length + c.deleted.length > 1);
}
