// CloudWatch Logs metric filter patterns, evaluated here so a test can prove an alarm's filter matches the log
// line meant to trip it (and not an ordinary one) without an AWS account. No npm package implements them (checked:
// none in the registry's index matches "filter pattern" / "metric filter"), so this is the JSON-pattern subset the
// stacks use, per the CloudWatch Logs "Filter pattern syntax" page:
//   { SELECTOR OP VALUE }           SELECTOR $.a.b or $.a[0]; OP = != < > <= >=
//   VALUE                           "string" (exact, case-sensitive; * is a wildcard), a number, TRUE/FALSE/NULL
//   { SELECTOR IS TRUE|FALSE|NULL }, { SELECTOR NOT EXISTS }, { SELECTOR EXISTS }
//   a && b, a || b, ( ... )         && binds tighter than ||
// Anything else (term patterns, space-delimited patterns, regex) throws: a stack that starts using them needs
// them implemented here first, rather than a test that silently passes. Pure.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

type Node =
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'cmp'; selector: string[]; op: '=' | '!=' | '<' | '>' | '<=' | '>='; value: string | number }
  | { kind: 'is'; selector: string[]; value: boolean | null }
  | { kind: 'exists'; selector: string[]; exists: boolean };

export class FilterPatternError extends Error {
  constructor(pattern: string, why: string) {
    super(`infra.filter-pattern: ${why} in ${JSON.stringify(pattern)}`);
    this.name = 'FilterPatternError';
  }
}

/** Parses a JSON metric filter pattern (`{ ... }`). */
export function parseFilterPattern(pattern: string): (event: Json) => boolean {
  const text = pattern.trim();
  if (!text.startsWith('{') || !text.endsWith('}'))
    throw new FilterPatternError(pattern, 'only JSON patterns ({ ... }) are implemented');
  const tokens = tokenize(text.slice(1, -1), pattern);
  let at = 0;
  const peek = () => tokens[at];
  const take = () => tokens[at++];
  const expect = (t: string) => {
    if (take() !== t) throw new FilterPatternError(pattern, `expected ${t}`);
  };
  const parseOr = (): Node => {
    let left = parseAnd();
    while (peek() === '||') {
      take();
      left = { kind: 'or', left, right: parseAnd() };
    }
    return left;
  };
  const parseAnd = (): Node => {
    let left = parseTerm();
    while (peek() === '&&') {
      take();
      left = { kind: 'and', left, right: parseTerm() };
    }
    return left;
  };
  const parseTerm = (): Node => {
    if (peek() === '(') {
      take();
      const inner = parseOr();
      expect(')');
      return inner;
    }
    const sel = take();
    if (!sel?.startsWith('$')) throw new FilterPatternError(pattern, `expected a selector, got ${sel}`);
    const selector = parseSelector(sel, pattern);
    const op = take();
    if (op === 'IS') {
      const v = take();
      if (v === 'TRUE' || v === 'FALSE') return { kind: 'is', selector, value: v === 'TRUE' };
      if (v === 'NULL') return { kind: 'is', selector, value: null };
      throw new FilterPatternError(pattern, `IS ${v}`);
    }
    if (op === 'NOT') {
      expect('EXISTS');
      return { kind: 'exists', selector, exists: false };
    }
    if (op === 'EXISTS') return { kind: 'exists', selector, exists: true };
    if (op !== '=' && op !== '!=' && op !== '<' && op !== '>' && op !== '<=' && op !== '>=')
      throw new FilterPatternError(pattern, `operator ${op}`);
    const raw = take();
    if (raw === undefined) throw new FilterPatternError(pattern, 'missing value');
    const value = raw.startsWith('"')
      ? (JSON.parse(raw) as string)
      : /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(raw)
        ? Number(raw)
        : raw;
    if (typeof value === 'string' && !raw.startsWith('"') && op !== '=' && op !== '!=')
      throw new FilterPatternError(pattern, `numeric ${op} on ${raw}`);
    return { kind: 'cmp', selector, op, value };
  };
  const tree = parseOr();
  if (at !== tokens.length) throw new FilterPatternError(pattern, `unexpected ${tokens[at]}`);
  return (event) => evaluate(tree, event);
}

/** Whether `line` (one log event's message) matches `pattern`; a line that is not JSON matches no JSON pattern. */
const parsed = new Map<string, (event: Json) => boolean>();

export function matchesFilterPattern(pattern: string, line: string): boolean {
  let match = parsed.get(pattern);
  if (!match) parsed.set(pattern, (match = parseFilterPattern(pattern)));
  let event: Json;
  try {
    event = JSON.parse(line) as Json;
  } catch {
    return false;
  }
  return match(event);
}

/**
 * The value a metric filter publishes for `line`: its metricValue (a literal number, or `$.selector` naming a
 * number in the line), or undefined when the pattern does not match or the selected value is not numeric.
 */
export function metricValueOf(pattern: string, metricValue: string, line: string): number | undefined {
  if (!matchesFilterPattern(pattern, line)) return undefined;
  if (!metricValue.startsWith('$')) return Number(metricValue);
  const value = select(JSON.parse(line) as Json, parseSelector(metricValue, metricValue));
  return typeof value === 'number'
    ? value
    : typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))
      ? Number(value)
      : undefined;
}

function tokenize(body: string, pattern: string): string[] {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|&&|\|\||<=|>=|!=|[()=<>]|[^\s()=<>!&|"]+)/y;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = re.exec(body))) {
    out.push(m[1]!);
    last = re.lastIndex;
  }
  if (body.slice(last).trim() !== '')
    throw new FilterPatternError(pattern, `cannot read ${JSON.stringify(body.slice(last))}`);
  return out;
}

function parseSelector(sel: string, pattern: string): string[] {
  if (!sel.startsWith('$')) throw new FilterPatternError(pattern, `selector ${sel}`);
  const parts: string[] = [];
  const re = /\.([A-Za-z0-9_\-@]+)|\[(\d+)\]/y;
  re.lastIndex = 1;
  let m: RegExpExecArray | null;
  while ((m = re.exec(sel))) parts.push(m[1] ?? m[2]!);
  if (re.lastIndex !== 0 && re.lastIndex !== sel.length) throw new FilterPatternError(pattern, `selector ${sel}`);
  if (parts.length === 0) throw new FilterPatternError(pattern, `selector ${sel}`);
  return parts;
}

const MISSING = Symbol('missing');

function select(event: Json, path: string[]): Json | typeof MISSING {
  let cur: Json | typeof MISSING = event;
  for (const part of path) {
    if (cur === MISSING || cur === null || typeof cur !== 'object') return MISSING;
    cur = Array.isArray(cur)
      ? /^\d+$/.test(part)
        ? (cur[Number(part)] ?? MISSING)
        : MISSING
      : Object.hasOwn(cur, part)
        ? cur[part]!
        : MISSING;
  }
  return cur;
}

function wildcard(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );
  return re.test(value);
}

function evaluate(node: Node, event: Json): boolean {
  switch (node.kind) {
    case 'and':
      return evaluate(node.left, event) && evaluate(node.right, event);
    case 'or':
      return evaluate(node.left, event) || evaluate(node.right, event);
    case 'exists':
      return (select(event, node.selector) !== MISSING) === node.exists;
    case 'is':
      return select(event, node.selector) === node.value;
    case 'cmp': {
      const value = select(event, node.selector);
      if (value === MISSING) return false;
      if (typeof node.value === 'string') {
        if (typeof value !== 'string') return false;
        const eq = node.value.includes('*') ? wildcard(node.value, value) : value === node.value;
        return node.op === '=' ? eq : !eq;
      }
      if (typeof value !== 'number') return false;
      const v = node.value;
      switch (node.op) {
        case '=':
          return value === v;
        case '!=':
          return value !== v;
        case '<':
          return value < v;
        case '>':
          return value > v;
        case '<=':
          return value <= v;
        case '>=':
          return value >= v;
      }
    }
  }
}
