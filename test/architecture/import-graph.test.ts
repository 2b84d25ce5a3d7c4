// The folder tree states the architecture; this test keeps the import graph honest to it. It reads the
// TypeScript sources (type-only imports count too: a type is a dependency a reader has to follow) and checks
// who reaches what, transitively from each program's entry point.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(__dirname, '..', '..', '..');
const SRC = join(ROOT, 'src');

interface Edge {
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return name.endsWith('.ts') ? [full] : [];
  });
}

/** Relative imports of one file, resolved to repository paths (`src/…/x.ts`). */
function importsOf(file: string): Edge[] {
  const text = readFileSync(file, 'utf8');
  const edges: Edge[] = [];
  const patterns = [
    /^\s*(import|export)(\s+type)?\b[^;]*?\bfrom\s+'(\.[^']+)'/gms,
    /^\s*import\s+'(\.[^']+)'/gm,
    /\brequire\('(\.[^']+)'\)/g,
    /\bimport\('(\.[^']+)'\)/g,
  ];
  for (const [i, re] of patterns.entries()) {
    for (const m of text.matchAll(re)) {
      const spec = i === 0 ? m[3]! : m[1]!;
      const typeOnly = i === 0 && m[2] !== undefined;
      const target = resolve(dirname(file), spec);
      const candidates = [`${target}.ts`, join(target, 'index.ts')];
      const found = candidates.find((c) => {
        try {
          return statSync(c).isFile();
        } catch {
          return false;
        }
      });
      if (found) edges.push({ to: relative(ROOT, found), typeOnly });
    }
  }
  return edges;
}

const graph = new Map<string, Edge[]>(sourceFiles(SRC).map((f) => [relative(ROOT, f), importsOf(f)]));

/** Every file reachable from `starts`, with the chain that first reached it (for the failure message). */
function reach(starts: string[]): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const queue = starts.map((s) => [s] as string[]);
  for (const s of starts) seen.set(s, [s]);
  while (queue.length > 0) {
    const chain = queue.shift()!;
    for (const edge of graph.get(chain[chain.length - 1]!) ?? []) {
      if (seen.has(edge.to)) continue;
      const next = [...chain, edge.to];
      seen.set(edge.to, next);
      queue.push(next);
    }
  }
  return seen;
}

const under = (folder: string) => (file: string) => file.startsWith(`src/${folder}/`);
const files = [...graph.keys()];

/** The programs holdfast ships, each from its entry points. */
const PROGRAMS = {
  supervisor: ['src/cli/holdfastd.ts', ...files.filter(under('supervisor'))],
  worker: ['src/worker/main.ts', ...files.filter(under('worker'))],
  'client library': ['src/client/index.ts'],
  'operations CLI': ['src/cli/holdfast.ts'],
};

function forbid(program: keyof typeof PROGRAMS, forbidden: (file: string) => boolean, why: string): void {
  const reached = reach(PROGRAMS[program]);
  const offences = [...reached].filter(([file]) => forbidden(file)).map(([, chain]) => chain.join(' -> '));
  assert.deepEqual(offences, [], `${program} must not reach these (${why}):\n${offences.join('\n')}`);
}

test('the graph was read: every program reaches a few dozen files', () => {
  for (const [name, starts] of Object.entries(PROGRAMS)) {
    assert.ok(reach(starts).size > 10, `${name} reaches only ${reach(starts).size} files: the import scan is broken`);
  }
});

test('the supervisor is free of the wire protocol and of the worker', () => {
  forbid('supervisor', under('shared/protocol'), 'it relays bytes and fds; only the worker speaks libvirt RPC');
  forbid('supervisor', under('worker'), 'the worker is a separate process, started by path');
  forbid('supervisor', under('client'), 'the client library is for peers');
});

test('the worker never reaches the supervisor, and the client library neither process', () => {
  forbid('worker', (f) => under('supervisor')(f) || f.startsWith('src/cli/'), 'the supervisor is a separate process');
  forbid('client library', (f) => under('supervisor')(f) || under('worker')(f), 'a client links only the protocol');
  forbid('operations CLI', (f) => under('supervisor')(f) || under('worker')(f), 'the CLI is a client of the admin socket');
});

test('the client library carries no custody code at run time', () => {
  // Types of the supervisor's status (shared/custody/supervisor-status.ts) describe a STATUS reply; they are
  // erased when compiled. Any value import of custody would put the control channel in every client.
  const starts = PROGRAMS['client library'];
  const seen = new Set(starts);
  const queue = [...starts];
  const offences: string[] = [];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const edge of graph.get(file) ?? []) {
      if (edge.typeOnly) continue;
      if (under('shared/custody')(edge.to)) offences.push(`${file} -> ${edge.to}`);
      if (!seen.has(edge.to)) {
        seen.add(edge.to);
        queue.push(edge.to);
      }
    }
  }
  assert.deepEqual(offences, []);
});

test('shared/platform depends on nothing above it', () => {
  for (const file of files.filter(under('shared/platform'))) {
    for (const edge of graph.get(file)!) {
      assert.ok(under('shared/platform')(edge.to), `${file} imports ${edge.to}: platform code must stay at the bottom`);
    }
  }
});

test('every folder of shared/ is used by the programs its name says', () => {
  const reachedBy = Object.fromEntries(Object.entries(PROGRAMS).map(([name, starts]) => [name, new Set(reach(starts).keys())]));
  const users = (file: string) => Object.keys(PROGRAMS).filter((name) => reachedBy[name]!.has(file));
  const expected: Record<string, (programs: string[]) => boolean> = {
    'shared/custody': (p) => p.includes('supervisor') && p.includes('worker'),
    'shared/protocol': (p) => p.includes('worker') && p.includes('client library') && !p.includes('supervisor'),
    'shared/platform': (p) => p.length >= 2,
    'shared/cluster': (p) => p.includes('supervisor') && p.includes('worker'),
  };
  const wrong: string[] = [];
  for (const file of files.filter(under('shared'))) {
    const folder = Object.keys(expected).find((f) => under(f)(file));
    if (folder === undefined) {
      wrong.push(`${file}: shared/ holds only platform/, custody/, protocol/ and cluster/`);
      continue;
    }
    if (!expected[folder]!(users(file))) wrong.push(`${file}: used by ${users(file).join(', ') || 'nothing'}`);
  }
  assert.deepEqual(wrong, []);
});
