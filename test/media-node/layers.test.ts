// media-node/src is in layers (README "Layout"), each a folder; a file imports only its own layer and lower
// ones, and no import cycle exists. Type-only imports count too: a type from a higher layer is a dependency on it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { importCycles, importGraph, upwardImports } from '../support/import-graph';

/** Lowest first. */
const MEDIA_NODE_LAYERS = ['telemetry', 'workers', 'load', 'session', 'span', 'room', 'grpc', 'node'] as const;

const SRC = fileURLToPath(new URL('../../media-node/src', import.meta.url));

test('media-node/src: every file is in a layer and imports only its own layer or lower ones', () => {
  const graph = importGraph(SRC);
  assert.ok(graph.size > 20, `the sources were found (${graph.size} files)`);
  assert.ok([...graph.values()].flat().length > 40, 'their imports were found');
  assert.deepEqual(upwardImports(graph, MEDIA_NODE_LAYERS), []);
});

test('media-node/src has no import cycle', () => {
  assert.deepEqual(importCycles(importGraph(SRC)), []);
});

test('the checks find what they look for: an upward import, a file outside the layers, a cycle', () => {
  const graph = new Map([
    ['workers/Pool.ts', ['room/room.ts']],
    ['room/room.ts', ['room/Ledger.ts', 'workers/Pool.ts']],
    ['room/Ledger.ts', ['room/room.ts']],
    ['Flat.ts', []],
  ]);
  assert.deepEqual(upwardImports(graph, ['workers', 'room']), [
    'workers/Pool.ts → room/room.ts (workers imports room, a higher layer)',
    'Flat.ts is in no layer (folders, lowest first: workers, room)',
  ]);
  assert.deepEqual(importCycles(graph).sort(), [
    'room/Ledger.ts → room/room.ts → room/Ledger.ts',
    'room/room.ts → workers/Pool.ts → room/room.ts',
  ]);
});
