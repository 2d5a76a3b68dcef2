import * as esbuild from 'esbuild';
import { descendantPids, isAlive } from './process-tree.ts';
await esbuild.transform('let x: number = 1', { loader: 'ts' });
const pids = descendantPids(process.pid);
console.log('children', pids);
const t = Date.now();
await esbuild.stop();
while (pids.some(isAlive)) await new Promise((r) => setTimeout(r, 10));
console.log('exited after', Date.now() - t, 'ms');
