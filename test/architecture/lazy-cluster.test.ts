// A holdfastd without a cluster never loads etcd3 (and its gRPC stack and policy library): about 260 ms of
// loading that every start, upgrade and worker would pay for nothing. Only src/shared/cluster/connect-etcd.ts
// and the cluster keeper, each require()d on first use, may load them; this test follows the imports every
// program loads at start (static, not type-only) and fails if one of them reaches those packages.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(__dirname, '..', '..', '..');
const ENTRIES = ['src/cli/holdfastd.ts', 'src/worker/main.ts', 'src/cli/holdfast.ts', 'src/client/index.ts'];
const LAZY_PACKAGES = ['etcd3', 'cockatiel', '@grpc/grpc-js'];

interface StaticImport {
  spec: string;
  typeOnly: boolean;
}

// `import … from 'x'` and `export … from 'x'`; type-only when written `import type`, or when every named
// specifier is marked `type` (TypeScript then drops the import).
function staticImports(text: string): StaticImport[] {
  const found: StaticImport[] = [];
  for (const m of text.matchAll(/^\s*(import|export)(\s+type)?\s+([^;]*?)\s+from\s+'([^']+)'/gms)) {
    const clause = m[3]!.trim();
    const named = /^\{([^}]*)\}$/.exec(clause);
    const allTypes = named !== null && named[1]!.split(',').map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith('type '));
    found.push({ spec: m[4]!, typeOnly: m[2] !== undefined || allTypes });
  }
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) found.push({ spec: m[1]!, typeOnly: false });
  return found;
}

function resolveLocal(from: string, spec: string): string | null {
  const target = resolve(dirname(from), spec);
  for (const candidate of [`${target}.ts`, join(target, 'index.ts')]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // next candidate
    }
  }
  return null;
}

test('no program loads etcd3, cockatiel or gRPC at start: only a configured cluster does, on first use', () => {
  const offenders: string[] = [];
  const seen = new Set<string>();
  const queue = ENTRIES.map((e) => [join(ROOT, e)]);
  while (queue.length > 0) {
    const chain = queue.shift()!;
    const file = chain[chain.length - 1]!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const { spec, typeOnly } of staticImports(readFileSync(file, 'utf8'))) {
      if (typeOnly) continue;
      if (spec.startsWith('.')) {
        const next = resolveLocal(file, spec);
        if (next) queue.push([...chain, next]);
      } else if (LAZY_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`))) {
        offenders.push(`${chain.map((f) => relative(ROOT, f)).join(' → ')} → ${spec}`);
      }
    }
  }
  assert.ok(seen.size > 50, `only ${seen.size} files reached: the import pattern no longer matches the sources`);
  assert.deepEqual(offenders, []);
});
