// The media node asset's package-lock.json, cut from the repository's own lockfile: the packages the node
// needs at run time on the host (mediasoup's JavaScript and the Node.js 24 binary package) at exactly the
// versions and integrity hashes tested here, so the host installs them with `npm ci`. Pure.

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  dev?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  [key: string]: unknown;
}

export interface Lockfile {
  name?: string;
  lockfileVersion: number;
  requires?: boolean;
  packages: Record<string, LockEntry>;
}

/** The lockfile of a package `name` depending on `roots` (names), with their transitive dependencies. */
export function subsetLockfile(
  root: Lockfile,
  name: string,
  roots: readonly string[],
): { manifest: Record<string, unknown>; lockfile: Lockfile } {
  if (root.lockfileVersion < 2)
    throw new Error(`infra.lockfile: lockfileVersion ${root.lockfileVersion} has no "packages" map`);
  const packages: Record<string, LockEntry> = {};
  const dependencies: Record<string, string> = {};

  /** npm's resolution: the nearest node_modules/<dep> walking up from the requiring package's folder. */
  const resolve = (from: string, dep: string): string | undefined => {
    let dir = from;
    for (;;) {
      const candidate = `${dir ? `${dir}/` : ''}node_modules/${dep}`;
      if (root.packages[candidate]) return candidate;
      if (!dir) return undefined;
      const cut = dir.lastIndexOf('/node_modules/');
      dir = cut >= 0 ? dir.slice(0, cut) : '';
    }
  };
  const visit = (path: string) => {
    if (packages[path]) return;
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = root.packages[path]!;
    packages[path] = entry;
    const deps = { ...entry.dependencies, ...entry.optionalDependencies };
    for (const dep of Object.keys(deps)) {
      const found = resolve(path, dep);
      if (found) visit(found);
      else if (!entry.optionalDependencies?.[dep])
        throw new Error(`infra.lockfile: ${path} needs ${dep}, which the lockfile does not have`);
    }
  };
  for (const dep of roots) {
    const path = `node_modules/${dep}`;
    const entry = root.packages[path];
    if (!entry?.version) throw new Error(`infra.lockfile: ${dep} is not in the repository's lockfile (npm ci first)`);
    dependencies[dep] = entry.version; // exact: what was tested
    visit(path);
  }
  const sorted = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => a.localeCompare(b)));
  const manifest = { name, private: true, type: 'module', dependencies };
  return {
    manifest,
    lockfile: { name, lockfileVersion: 3, requires: true, packages: { '': { name, dependencies }, ...sorted } },
  };
}
