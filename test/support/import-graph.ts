// The import graph of a folder of TypeScript sources (static imports, `export … from`, `import()`; type-only
// imports included, as ESLint's import/no-cycle counts them), and the two checks test/media-node/layers.test.ts
// makes of it: no import runs up the layer order, and no import cycle.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** file (relative to the root, '/'-separated) → the files it imports inside the root. */
export type ImportGraph = Map<string, string[]>;

export function importGraph(root: string): ImportGraph {
  const files = listTs(root);
  const known = new Set(files);
  const graph: ImportGraph = new Map();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => toKey(relative(root, resolve(root, dirname(file), name))))
      .map((base) => [`${base}.ts`, `${base}/index.ts`, base].find((candidate) => known.has(candidate)))
      .filter((target): target is string => target !== undefined);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Imports from a lower layer to a higher one ("a → b (layer x → y)"), and files in no layer. */
export function upwardImports(graph: ImportGraph, layers: readonly string[]): string[] {
  const layerOf = (file: string) => layers.indexOf(file.split('/')[0]!);
  const problems: string[] = [];
  for (const [file, targets] of graph) {
    if (!file.includes('/') || layerOf(file) < 0) {
      problems.push(`${file} is in no layer (folders, lowest first: ${layers.join(', ')})`);
      continue;
    }
    for (const target of targets) {
      if (layerOf(target) > layerOf(file))
        problems.push(`${file} → ${target} (${file.split('/')[0]} imports ${target.split('/')[0]}, a higher layer)`);
    }
  }
  return problems;
}

/** Every import cycle, each once ("a → b → a"). */
export function importCycles(graph: ImportGraph): string[] {
  const cycles = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    path.push(file);
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === 'open') {
        const cycle = path.slice(path.indexOf(target));
        // Start each cycle at its smallest file, so one cycle is reported once.
        const start = cycle.indexOf([...cycle].sort()[0]!);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.add([...rotated, rotated[0]].join(' → '));
      } else if (!state.has(target)) {
        visit(target);
      }
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return [...cycles];
}

function listTs(root: string, dir = ''): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return listTs(root, path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

function toKey(path: string): string {
  return path.split('\\').join('/');
}
