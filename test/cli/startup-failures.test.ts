// Every way holdfastd can fail to start says so in one line on stderr that names the path and the cause,
// with no stack (the stack only with -v), and exits 2; a bad flag gets a hint, not the whole help. Config
// keys that flags override are reported, not dropped silently. -V names the program and the protocol.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { within } from '../fixtures/deadline';
import { HOLDFASTD, startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';

const NOBODY = 65534;
let dir: string;
let first: HoldfastHandle;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-start-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'first'), { mode: 0o700 });
  first = await startHoldfast({ dir: join(dir, 'first') });
});

after(async () => {
  await first?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function holdfastd(args: string[], asNobody = false) {
  const [command, argv] = asNobody
    ? ['setpriv', [`--reuid=${NOBODY}`, '--regid=nogroup', '--clear-groups', '--', process.execPath, HOLDFASTD, ...args]]
    : [process.execPath, [HOLDFASTD, ...args]];
  // SIGKILL on timeout: a daemon stuck before its signal handling would outlive SIGTERM and hang the test.
  return spawnSync(command, argv, { cwd: dir, encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
}

/** Exit 2 and exactly one line on stderr, without a stack, matching `cause`. */
function assertOneLineFailure(result: ReturnType<typeof holdfastd>, cause: RegExp): void {
  assert.equal(result.status, 2, result.stderr);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, not:\n${result.stderr}`);
  assert.match(lines[0]!, /^holdfastd: /);
  assert.match(lines[0]!, cause);
  assert.doesNotMatch(result.stderr, /^\s+at /m);
  assert.equal(result.stdout, '');
}

test('a second daemon on the same run dir: one line naming the pid file and its holder', () => {
  const pidFile = join(dir, 'first', 'holdfastd.pid');
  assertOneLineFailure(holdfastd(['--run-dir', join(dir, 'first')]), new RegExp(`${pidFile}.*held by pid ${first.pid}`));
});

test('with -v, the stack is there too', () => {
  const result = holdfastd(['--run-dir', join(dir, 'first'), '-v']);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /^holdfastd: cannot start: .*holdfastd\.pid/m);
  assert.match(result.stderr, /\\n\s+at |\n\s+at /);
});

test('a run dir that cannot be made: under a file, and where the user may not write', () => {
  writeFileSync(join(dir, 'a-file'), '');
  assertOneLineFailure(holdfastd(['--run-dir', join(dir, 'a-file', 'run')]), new RegExp(`ENOTDIR.*${join(dir, 'a-file', 'run')}`));
  // dir is root's, mode 0755: nobody may not create in it.
  assertOneLineFailure(holdfastd(['--run-dir', join(dir, 'not-yours')], true), new RegExp(`EACCES.*${join(dir, 'not-yours')}`));
});

test('a run dir on procfs, where mkdir fails with ENOENT under an existing parent: a failure, not a spin', () => {
  // Node's recursive mkdir retried this forever at full CPU, deaf to SIGTERM, until the timeout's SIGKILL.
  const result = holdfastd(['--run-dir', '/proc/holdfast-run/here']);
  assert.equal(result.error, undefined, 'holdfastd returned instead of spinning until killed');
  assertOneLineFailure(result, /ENOENT.*\/proc\/holdfast-run/);
});

test('a socket in use by another daemon: one line naming it', () => {
  const run = mkdtempSync(join(dir, 'inuse-'));
  assertOneLineFailure(holdfastd(['--run-dir', run, '--socket', first.socket]), new RegExp(`${first.socket} is in use`));
  assert.equal(existsSync(join(run, 'holdfastd.pid')), false, 'the pid file is released');
});

test('a bad config and an output holdfast does not implement: one line each, exit 2', () => {
  const run = mkdtempSync(join(dir, 'conf-'));
  const conf = join(run, 'bad.conf');
  writeFileSync(conf, 'max_client = 10\n');
  assertOneLineFailure(holdfastd(['--run-dir', run, '-f', conf]), /bad\.conf:1: .*max_client/);
  for (const output of ['2:journald', '2:syslog:holdfast']) {
    writeFileSync(conf, `log_outputs = "${output}"\n`);
    assertOneLineFailure(holdfastd(['--run-dir', run, '-f', conf]), new RegExp(`bad\\.conf:1: log_outputs: holdfast does not implement the ${output.split(':')[1]} destination`));
  }
});

test('a bad cluster config: one line, exit 2, before anything is bound', () => {
  const run = mkdtempSync(join(dir, 'cluster-'));
  const conf = join(run, 'cluster.conf');
  writeFileSync(conf, 'log_level = 3\ncluster_lockspaces = [ "/var/lib/libvirt/lockd/files" ]\n');
  assertOneLineFailure(holdfastd(['--run-dir', run, '-f', conf]), /^holdfastd: .*cluster\.conf:2: cluster_lockspaces needs cluster_etcd_endpoints$/);
  writeFileSync(conf, 'cluster_etcd_endpoints = [ "http://a:2379", "https://b:2379" ]\ncluster_lockspaces = [ "/l" ]\n');
  assertOneLineFailure(holdfastd(['--run-dir', run, '-f', conf]), /cluster\.conf:1: cluster_etcd_endpoints mixes http:\/\/ and https:\/\/ endpoints/);
  writeFileSync(conf, 'cluster_etcd_endpoints = [ "http://127.0.0.1:2379" ]\ncluster_lease_ttl_ms = 2500\ncluster_lockspaces = [ "/l" ]\n');
  assertOneLineFailure(holdfastd(['--run-dir', run, '-f', conf, '-d']), /cluster\.conf:2: cluster_lease_ttl_ms must be an integer from 2000 to 600000, a multiple of 1000 \(got 2500\)$/);
  assert.equal(existsSync(join(run, 'holdfastd-sock')), false, 'nothing was bound');
  assert.equal(existsSync(join(run, 'holdfastd.pid')), false, 'no pid file');
});

test('a valid cluster config: the daemon serves, its worker having taken the cluster settings', async () => {
  // No etcd is reached here: only the settings' way from the config file into the worker is under test.
  const run = mkdtempSync(join(dir, 'cluster-ok-'));
  const config = 'cluster_etcd_endpoints = [ "http://127.0.0.1:2379" ]\ncluster_lockspaces = [ "/var/lib/libvirt/lockd/files" ]\ncluster_host_id = "test-host"\n';
  const daemon = await startHoldfast({ dir: run, config });
  try {
    assert.doesNotMatch(daemon.logs(), /"level":(50|60)/, 'no error logged');
  } finally {
    await daemon.stop();
  }
});

test('a cluster watchdog device that cannot be opened: one line naming it, exit 2, nothing bound', () => {
  // Opening it is what arms a watchdog: an operator who configured one counts on it, so no start without it.
  const run = mkdtempSync(join(dir, 'cluster-watchdog-'));
  const conf = join(run, 'cluster.conf');
  const missing = join(run, 'no-such-watchdog');
  writeFileSync(conf, `cluster_etcd_endpoints = [ "http://127.0.0.1:2379" ]\ncluster_lockspaces = [ "/l" ]\ncluster_host_id = "h"\ncluster_watchdog_device = "${missing}"\ncluster_watchdog_timeout_ms = 6000\n`);
  assertOneLineFailure(holdfastd(['--run-dir', run, '-f', conf]), new RegExp(`^holdfastd: cannot start: cannot open the cluster watchdog device ${missing}: ENOENT$`));
  assert.equal(existsSync(join(run, 'holdfastd-sock')), false, 'nothing was bound');
  assert.equal(existsSync(join(run, 'holdfastd.pid')), false, 'the pid file is released');
});

test('a bad flag: the error and a hint, not the whole help; exit 2', () => {
  const result = holdfastd(['--bogus']);
  assert.equal(result.status, 2);
  assert.deepEqual(result.stderr.trimEnd().split('\n'), ["error: unknown option '--bogus'", "(run 'holdfastd --help' for usage)"]);
  const cli = spawnSync(process.execPath, [join(HOLDFASTD, '..', 'holdfast.js'), 'locks', '--bogus'], { encoding: 'utf8' });
  assert.equal(cli.status, 2);
  assert.deepEqual(cli.stderr.trimEnd().split('\n'), ["error: unknown option '--bogus'", "(run 'holdfast --help' for usage)"]);
});

test('-V names the program, its package and the protocol it serves', () => {
  const version = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')).version as string;
  const result = holdfastd(['-V']);
  assert.equal(result.status, 0);
  const [name, protocol] = result.stdout.trimEnd().split('\n');
  assert.equal(name, `holdfastd (holdfast) ${version}`);
  assert.match(protocol!, /virtlockd's lock protocol of libvirt \d+\.\d+\.\d+ \(program 0xea7beef\)/);
});

test('config paths overridden by --run-dir are reported, and the flags win', async () => {
  const run = mkdtempSync(join(dir, 'conflict-'));
  const config = `socket_path = "${join(run, 'from-config-sock')}"\n`;
  const daemon = await startHoldfast({ dir: run, config });
  try {
    assert.match(daemon.logs(), new RegExp(`^holdfastd: warning: socket_path = "${join(run, 'from-config-sock')}" \\(${join(run, 'holdfastd.conf')}:1\\) is overridden by the command line \\(--run-dir\\): "${join(run, 'holdfastd-sock')}"$`, 'm'));
    assert.equal(existsSync(join(run, 'from-config-sock')), false);
  } finally {
    await daemon.stop();
  }
});

test('a non-root user\'s fallback run dir (~/.cache/libvirt) is made 0700', async () => {
  const home = mkdtempSync(join(dir, 'home-'));
  chownSync(home, NOBODY, NOBODY);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home };
  const child = spawn('setpriv', [`--reuid=${NOBODY}`, '--regid=nogroup', '--clear-groups', '--', process.execPath, HOLDFASTD], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const socket = join(home, '.cache', 'libvirt', 'virtlockd-sock');
  try {
    await within(30_000, `the socket at ${socket}`, (async () => {
      while (!existsSync(socket)) {
        if (child.exitCode !== null) throw new Error(`holdfastd exited: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })());
    assert.equal(statSync(join(home, '.cache', 'libvirt')).mode & 0o777, 0o700);
    assert.equal(statSync(join(home, '.cache')).mode & 0o777, 0o700);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});
