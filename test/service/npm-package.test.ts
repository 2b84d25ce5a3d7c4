// The package as operators get it: `npm pack` on a clean copy of the tree (no dist/, no build/) makes a
// tarball of the daemon alone, with the native addon and the signal guard prebuilt for linux-x64 and
// linux-arm64; `npm install -g --prefix P` of it, on a PATH without python3, make or a C compiler, compiles
// nothing and puts working `holdfastd` and `holdfast` in P/bin — the daemon then serves, on the prebuilds.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative, sep } from 'node:path';
import { test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { waitFor } from '../fixtures/deadline';

const REPO = join(__dirname, '..', '..', '..');
// What a checkout has that a clean tree has not (and what must never be packed from it).
const NOT_SOURCES = new Set(['node_modules', 'dist', 'build', 'prebuilds', 'run', '.git']);

/** Every C file binding.gyp compiles, and every header beside them: what the install builds the addon from. */
function nativeSources(): string[] {
  const gyp = JSON.parse(readFileSync(join(REPO, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, '')) as { targets: { sources: string[] }[] };
  const dir = 'src/shared/platform/native';
  const headers = readdirSync(join(REPO, dir)).filter((f) => f.endsWith('.h')).map((f) => `${dir}/${f}`);
  return [...gyp.targets.flatMap((t) => t.sources), ...headers];
}

// ELF e_machine of each architecture the package ships a prebuild for.
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 };
// What builds an addon from source: none of it may be needed to install the package.
const BUILD_TOOLS = ['python3', 'python', 'make', 'gcc', 'g++', 'cc', 'c++', 'clang'];
// The little an install runs besides node and npm.
const BASIC_TOOLS = ['sh', 'bash', 'env', 'tar', 'gzip', 'cat', 'ls', 'mkdir', 'rm', 'cp', 'mv', 'chmod', 'ln', 'uname', 'which'];

/** The absolute path `command` resolves to on this machine's PATH, or null. */
function which(command: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, command))) return join(dir, command);
  }
  return null;
}

/** A directory for PATH holding node, npm and basic tools (symlinks), and no compiler, make or python. */
function pathWithoutCompilers(dir: string): string {
  mkdirSync(dir);
  for (const command of ['node', 'npm', ...BASIC_TOOLS]) {
    const found = which(command);
    if (found !== null) symlinkSync(found, join(dir, command));
  }
  for (const tool of BUILD_TOOLS) assert.equal(which(tool, dir), null, `${tool} is on the compiler-free PATH`);
  return dir;
}

/** The ELF machine number of a shared object. */
function elfMachine(file: string): number {
  const header = readFileSync(file).subarray(0, 20);
  assert.equal(header.subarray(0, 4).toString('latin1'), '\x7fELF', `${file} is not an ELF file`);
  return header.readUInt16LE(18);
}

/** npm with the settings of an enclosing `npm test` (prefix, package, lifecycle) left out. */
function npm(args: string[], cwd: string, path = process.env.PATH): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: path };
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

test('npm pack makes a tarball with the addon prebuilt that npm install -g installs without a compiler, with working holdfastd and holdfast', { timeout: 600_000 }, async () => {
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
    const prebuilds = ['x64', 'arm64'].flatMap((arch) => ['holdfast.node', 'signal_guard.so'].map((lib) => `package/prebuilds/linux-${arch}/${lib}`));
    for (const needed of [...prebuilds, 'package/dist/src/cli/holdfastd.js', 'package/dist/src/cli/holdfast.js', 'package/dist/src/worker/main.js', 'package/binding.gyp', ...nativeSources().map((f) => `package/${f}`), 'package/systemd/holdfastd.service', 'package/systemd/virtlockd.service.d/holdfast.conf']) {
      assert.ok(listing.includes(needed), `${needed} is not in the tarball`);
    }
    const stray = listing.filter((l) => /^package\/(dist\/)?(test|bench)\/|^package\/\.ci\/|^package\/build\//.test(l));
    assert.deepEqual(stray, [], 'the tarball carries files that are not the package');

    const prefix = join(work, 'prefix');
    // No compiler, and (beyond the npm cache the checkout's `npm ci` filled) no network needed.
    const path = pathWithoutCompilers(join(work, 'bin'));
    // As systemd/README.md says: allowing holdfast's install step (npm names a tarball by its file: path, not
    // by the package's name) lets it check the prebuild, and compile only where none fits. Here the check
    // passes, with nothing to compile with.
    const install = npm(['install', '-g', `--allow-scripts=file:${tarball}`, '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], work, path);
    ok(install, 'npm install -g (no compiler on PATH)');
    // The one notice npm 11 may give, as systemd/README.md says: it skipped protobufjs's postinstall (a check of
    // the version range its dependents name, which holdfast does not need), and a global install has no way to
    // deny a script. Any other package with an unapproved script, or any other warning, fails.
    const output = `${install.stdout}${install.stderr}`;
    const notice = /^npm warn install-scripts 1 package has install scripts not yet covered by allowScripts:\nnpm warn install-scripts {3}protobufjs@[0-9.]+ \(postinstall: node scripts\/postinstall\)\n(npm warn install-scripts(?: [^\n]*)?\n)*/m;
    const unexplained = output.replace(notice, '');
    assert.doesNotMatch(unexplained, /not yet covered by allowScripts|install-scripts|gyp|warn/i, 'npm install -g warned or built');
    const installed = join(prefix, 'lib', 'node_modules', 'holdfast');
    // Skipped, protobufjs still does its work: the installed etcd client loads etcd's protocol through it.
    const etcdClient = spawnSync(process.execPath, ['-e', 'const { Etcd3 } = require(process.argv[1]); new Etcd3({ hosts: ["127.0.0.1:9"] }).close();', join(installed, 'node_modules', 'etcd3')], { encoding: 'utf8' });
    assert.equal(etcdClient.status, 0, `the installed etcd3 does not load: ${etcdClient.stderr}`);
    assert.equal(existsSync(join(installed, 'build')), false, 'the install compiled the addon instead of using the prebuild');
    for (const [arch, machine] of Object.entries(ELF_MACHINE)) {
      for (const lib of ['holdfast.node', 'signal_guard.so']) {
        assert.equal(elfMachine(join(installed, 'prebuilds', `linux-${arch}`, lib)), machine, `prebuilds/linux-${arch}/${lib} is not built for ${arch}`);
      }
    }

    const version = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;
    const holdfastd = join(prefix, 'bin', 'holdfastd');
    const holdfast = join(prefix, 'bin', 'holdfast');
    // -V loads the whole daemon, native addon included.
    const v = spawnSync(holdfastd, ['-V'], { encoding: 'utf8', env: { ...process.env, PATH: path } });
    assert.equal(v.status, 0, v.stderr);
    assert.ok(v.stdout.includes(version), `holdfastd -V: ${v.stdout}`);
    // The man pages are linked where man finds them under the prefix.
    for (const page of ['man8/holdfastd.8', 'man1/holdfast.1']) assert.ok(existsSync(join(prefix, 'share', 'man', page)), `${page} is not installed`);
    const help = spawnSync(holdfast, ['--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^Usage: holdfast /m);

    // And the installed daemon serves.
    const runDir = join(work, 'run');
    mkdirSync(runDir);
    const daemon = spawn(holdfastd, ['--run-dir', runDir], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PATH: path } });
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
      // The worker (it just served) runs under the shipped signal guard, preloaded from the prebuilds.
      const guard = join(installed, 'prebuilds', `linux-${process.arch}`, 'signal_guard.so');
      const workers = readFileSync(`/proc/${daemon.pid}/task/${daemon.pid}/children`, 'utf8').trim().split(/\s+/).filter((p) => p !== '');
      assert.ok(workers.some((pid) => readFileSync(`/proc/${pid}/maps`, 'utf8').includes(guard)), `${guard} is not mapped in a worker`);
    } finally {
      if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGTERM');
      await exited;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
