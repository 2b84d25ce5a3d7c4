// The package as operators get it: `npm pack` on a clean copy of the tree (no dist/, no build/) makes a
// tarball of the daemon alone, and `npm install -g --prefix P` of it builds the native addon and puts
// working `holdfastd` and `holdfast` in P/bin — the daemon then serves.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { waitFor } from '../fixtures/deadline';

const REPO = join(__dirname, '..', '..', '..');
// What a checkout has that a clean tree has not (and what must never be packed from it).
const NOT_SOURCES = new Set(['node_modules', 'dist', 'build', 'run', '.git']);

/** Every C file binding.gyp compiles, and every header beside them: what the install builds the addon from. */
function nativeSources(): string[] {
  const gyp = JSON.parse(readFileSync(join(REPO, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, '')) as { targets: { sources: string[] }[] };
  const dir = 'src/shared/platform/native';
  const headers = readdirSync(join(REPO, dir)).filter((f) => f.endsWith('.h')).map((f) => `${dir}/${f}`);
  return [...gyp.targets.flatMap((t) => t.sources), ...headers];
}

/** npm with the settings of an enclosing `npm test` (prefix, package, lifecycle) left out. */
function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_(package_|lifecycle_|config_(prefix|global|local_prefix)$|command$)/.test(key)) delete env[key];
  }
  const run = spawnSync('npm', args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.error) assert.fail(`npm ${args.join(' ')}: ${run.error.message}`);
  return run;
}

function ok(run: SpawnSyncReturns<string>, what: string): string {
  assert.equal(run.status, 0, `${what} failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

test('npm pack makes a tarball that npm install -g installs, with the addon built and working holdfastd and holdfast', { timeout: 600_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'holdfast-pack-'));
  try {
    // A clean tree: the sources only (the tarball must not depend on a build lying around), with the
    // checkout's node_modules for the build tools `npm pack` runs.
    const tree = join(work, 'tree');
    cpSync(REPO, tree, { recursive: true, filter: (src) => !NOT_SOURCES.has(relative(REPO, src).split(sep)[0]!) });
    for (const f of readdirSync(tree)) if (f.endsWith('.tgz')) rmSync(join(tree, f));
    symlinkSync(join(REPO, 'node_modules'), join(tree, 'node_modules'));
    const packed = join(work, 'packed');
    mkdirSync(packed);
    ok(npm(['pack', '--pack-destination', packed], tree), 'npm pack');
    const tarballs = readdirSync(packed).filter((f) => /^holdfast-.*\.tgz$/.test(f));
    assert.equal(tarballs.length, 1, `npm pack made ${tarballs.join(', ')}`);
    const tarball = join(packed, tarballs[0]!);

    // The daemon and what builds the addon are in; tests, benchmarks, CI scripts and build output are not.
    const listing = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '');
    for (const needed of ['package/dist/src/cli/holdfastd.js', 'package/dist/src/cli/holdfast.js', 'package/dist/src/worker/main.js', 'package/binding.gyp', ...nativeSources().map((f) => `package/${f}`), 'package/systemd/holdfastd.service', 'package/systemd/virtlockd.service.d/holdfast.conf']) {
      assert.ok(listing.includes(needed), `${needed} is not in the tarball`);
    }
    const stray = listing.filter((l) => /^package\/(dist\/)?(test|bench)\/|^package\/\.ci\/|^package\/build\//.test(l));
    assert.deepEqual(stray, [], 'the tarball carries files that are not the package');

    const prefix = join(work, 'prefix');
    ok(npm(['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], work), 'npm install -g');
    const installed = join(prefix, 'lib', 'node_modules', 'holdfast');
    assert.ok(existsSync(join(installed, 'build', 'Release', 'holdfast.node')), 'the native addon was not built on install');

    const version = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;
    const holdfastd = join(prefix, 'bin', 'holdfastd');
    const holdfast = join(prefix, 'bin', 'holdfast');
    // -V loads the whole daemon, native addon included.
    const v = spawnSync(holdfastd, ['-V'], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout.trim(), version);
    const help = spawnSync(holdfast, ['--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^Usage: holdfast /m);

    // And the installed daemon serves.
    const runDir = join(work, 'run');
    mkdirSync(runDir);
    const daemon = spawn(holdfastd, ['--run-dir', runDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let logs = '';
    daemon.stderr!.on('data', (chunk: Buffer) => (logs += chunk.toString()));
    const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
    try {
      const socket = join(runDir, 'holdfastd-sock');
      await waitFor(() => {
        assert.equal(daemon.exitCode, null, `the installed holdfastd exited:\n${logs}`);
        return existsSync(socket);
      }, 30_000, () => `the installed holdfastd's socket:\n${logs}`);
      // The socket is bound before the worker serves; a request simply waits for it.
      const client = await LockClient.connect(socket);
      await client.createLockspace('');
      await client.close();
    } finally {
      if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGTERM');
      await exited;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
