// TLS and authentication to etcd, end to end against a real etcd: one member serving clients on https with
// client-certificate authentication (certificates made now with openssl), and one on http with etcd's user
// authentication on. A holdfastd with the right files gets its lease and holds cluster locks; one with the
// wrong CA, a certificate etcd does not trust or a wrong password gets no lease, refuses cluster ACQUIREs
// naming the cluster, keeps serving local locks, and says in its log what is wrong. A TLS or password file
// that cannot be read stops holdfastd at start-up with one line naming it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { LockClient } from '../../src/client/lock-client';
import { DaemonError } from '../../src/client/daemon-error';
import { VirErrorCode } from '../../src/shared/protocol/vir-error';
import { holdKeys } from '../../src/worker/cluster/hold-keys';
import { occurrences, waitFor, waitForLog } from '../fixtures/deadline';
import { type EtcdCluster, startEtcdCluster } from '../fixtures/etcd-cluster';
import { HOLDFASTD, startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { probeLock } from '../fixtures/lock-prober';
import { makeTestCertificates, type TestCertificates } from '../fixtures/test-certificates';

// AUTOCREATE: the lock file is made in the lockspace directory; released, it goes again.
const EXCLUSIVE = 2;
const USER = 'holdfast';
const PASSWORD = `pw-${randomUUID()}`;
const ROOT_PASSWORD = `root-${randomUUID()}`;
/** The ACQUIREs on a daemon without a lease wait this long for one before the test says it never came. */
const LEASE_WAIT_MS = 15_000;

let dir: string;
let certs: TestCertificates;
/** https, client certificates required. */
let tlsEtcd: EtcdCluster;
/** http, etcd's authentication on, with USER allowed the key prefix. */
let authEtcd: EtcdCluster;
let prefix: string;
const daemons: HoldfastHandle[] = [];

/** holdfastd.conf text for a cluster on `endpoints` with `lines` added (TLS, user), cluster-wide lockspace `lockspace`. */
function clusterConfig(endpoints: string[], lockspace: string, lines: string[]): string {
  return [
    `cluster_etcd_endpoints = [ ${endpoints.map((e) => JSON.stringify(e)).join(', ')} ]`,
    `cluster_lockspaces = [ ${JSON.stringify(lockspace)} ]`,
    'cluster_host_id = "tls-host"',
    'cluster_lease_ttl_ms = 3000',
    `cluster_key_prefix = "${prefix}"`,
    // info: the lease's lines.
    'log_level = 2',
    ...lines,
    '',
  ].join('\n');
}

const tlsLines = (ca: string, cert: { certFile: string; keyFile: string }): string[] => [
  `cluster_tls_ca_file = "${ca}"`,
  `cluster_tls_cert_file = "${cert.certFile}"`,
  `cluster_tls_key_file = "${cert.keyFile}"`,
];

const authLines = (passwordFile: string): string[] => [`cluster_username = "${USER}"`, `cluster_password_file = "${passwordFile}"`];

/** A running holdfastd with its own run dir, a cluster lockspace and a local one (both created in the daemon). */
interface Host {
  daemon: HoldfastHandle;
  clusterSpace: string;
  localSpace: string;
}

async function startHost(name: string, config: (clusterSpace: string) => string): Promise<Host> {
  const root = mkdtempSync(join(dir, `${name}-`));
  const run = join(root, 'run');
  const clusterSpace = join(root, 'cluster-space');
  const localSpace = join(root, 'local-space');
  for (const d of [run, clusterSpace, localSpace]) mkdirSync(d);
  const daemon = await startHoldfast({ dir: run, config: config(clusterSpace) });
  daemons.push(daemon);
  const client = await LockClient.connect(daemon.socket);
  try {
    await client.createLockspace(clusterSpace);
    await client.createLockspace(localSpace);
  } finally {
    client.close();
  }
  return { daemon, clusterSpace, localSpace };
}

async function owner(host: Host): Promise<LockClient> {
  const client = await LockClient.connect(host.daemon.socket);
  await client.register({ uuid: randomUUID(), name: 'vm', id: 1, pid: 0x7e200000 + Math.floor(Math.random() * 0xffff) });
  return client;
}

/** The libvirt error an ACQUIRE got, or null if it was granted. */
async function acquireError(client: LockClient, lockspace: string, name: string): Promise<DaemonError | null> {
  try {
    await client.acquire(lockspace, name, EXCLUSIVE);
    return null;
  } catch (err) {
    if (err instanceof DaemonError) return err;
    throw err;
  }
}

/** Waits until a cluster ACQUIRE on `host` is granted (it is refused until the lease is held), then releases it. */
async function leased(host: Host): Promise<void> {
  const probe = await owner(host);
  try {
    const name = `lease-probe-${randomUUID()}`;
    await waitFor(async () => (await acquireError(probe, host.clusterSpace, name)) === null, LEASE_WAIT_MS, () => `a lease:\n${host.daemon.logs()}`, 100);
    await probe.release(host.clusterSpace, name, 0);
  } finally {
    probe.close();
  }
}

/** The etcd record of the exclusive hold of `name` in `lockspace`, read with a client of `store`'s own. */
async function exclusiveHold(store: Etcd3, lockspace: string, name: string): Promise<{ host: string; pid: number } | null> {
  const key = holdKeys(prefix, 'unused', lockspace, name).exclusive;
  const found = await store.kv.range({ key: Buffer.from(key) });
  const kv = found.kvs[0];
  if (!kv) return null;
  const value = JSON.parse(kv.value.toString()) as { host: string; owner: { pid: number } };
  return { host: value.host, pid: value.owner.pid };
}

/** `text` as a RegExp that matches it literally. */
const literally = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A daemon that cannot reach etcd as configured: its log says `why` in the lease's line (once: it keeps
 * trying, but the same failure is not logged at every retry), a cluster ACQUIRE is refused naming the
 * cluster and leaves nothing held, and a local ACQUIRE is granted.
 */
async function refusesClusterServesLocal(host: Host, store: Etcd3, why: string): Promise<void> {
  const line = new RegExp(`"msg":"cannot grant the host lease: ${literally(why)}`);
  await waitForLog(host.daemon.logs, line, 1, LEASE_WAIT_MS);
  const client = await owner(host);
  try {
    const name = `disk-${randomUUID()}`;
    const refused = await acquireError(client, host.clusterSpace, name);
    assert.ok(refused, 'a cluster ACQUIRE was granted without a lease');
    assert.equal(refused.code, VirErrorCode.OPERATION_FAILED, refused.message);
    assert.match(refused.message, /cluster lock store unavailable \(etcd \S+:\/\/127\.0\.0\.1:\d+\): this host holds no lease/);
    assert.match(refused.message, new RegExp(`resource '${name}' not acquired`));
    assert.equal(await exclusiveHold(store, host.clusterSpace, name), null, 'a hold in etcd');
    const file = join(host.clusterSpace, name);
    assert.ok(!existsSync(file) || (await probeLock(file)).ofd.canWrite, 'the local lock of the refused ACQUIRE is still held');
    // Local locks are served all the while.
    assert.equal(await acquireError(client, host.localSpace, 'local-disk'), null);
    assert.equal((await probeLock(join(host.localSpace, 'local-disk'))).ofd.canWrite, false, 'the local lock is not held');
    await client.release(host.localSpace, 'local-disk', 0);
  } finally {
    client.close();
  }
  assert.doesNotMatch(host.daemon.logs(), /host lease granted/);
  assert.equal(occurrences(host.daemon.logs(), line), 1, `the failure logged once:\n${host.daemon.logs()}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-tls-auth-'));
  prefix = `/holdfast-tls-test-${randomUUID()}/`;
  const certDir = join(dir, 'certs');
  mkdirSync(certDir);
  certs = makeTestCertificates(certDir);
  [tlsEtcd, authEtcd] = await Promise.all([
    startEtcdCluster({
      members: 1,
      clientTls: { certFile: certs.server.certFile, keyFile: certs.server.keyFile, trustedCaFile: certs.ca.certFile, clientCertFile: certs.client.certFile, clientKeyFile: certs.client.keyFile },
    }),
    startEtcdCluster({ members: 1 }),
  ]);
  // etcd's authentication: root (which enabling needs), and USER with read and write on the prefix only.
  const admin = new Etcd3(authEtcd.clientOptions());
  try {
    await admin.role('root').create().catch(() => undefined);
    await (await admin.user('root').create(ROOT_PASSWORD)).addRole('root');
    const role = await admin.role(USER).create();
    await role.grant({ permission: 'Readwrite', range: admin.range({ prefix }) });
    await (await admin.user(USER).create(PASSWORD)).addRole(USER);
    await admin.auth.authEnable();
  } finally {
    admin.close();
  }
});

after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await Promise.all([tlsEtcd?.close(), authEtcd?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('TLS with a client certificate etcd trusts: the lease is granted and a cluster hold is recorded in etcd', async () => {
  const host = await startHost('tls-good', (space) => clusterConfig(tlsEtcd.endpoints, space, tlsLines(certs.ca.certFile, certs.client)));
  await leased(host);
  const client = await owner(host);
  const store = new Etcd3(tlsEtcd.clientOptions());
  try {
    assert.equal(await acquireError(client, host.clusterSpace, 'disk-tls'), null);
    const hold = await exclusiveHold(store, host.clusterSpace, 'disk-tls');
    assert.ok(hold, 'no hold in etcd');
    assert.equal(hold.host, 'tls-host');
    await client.release(host.clusterSpace, 'disk-tls', 0);
    await waitFor(async () => (await exclusiveHold(store, host.clusterSpace, 'disk-tls')) === null, 5_000, 'the released hold to leave etcd');
  } finally {
    client.close();
    store.close();
    await host.daemon.stop();
  }
});

test('TLS with a CA that did not sign etcd\'s certificate: no lease, cluster ACQUIREs refused, local locks served, the log says why', async () => {
  const host = await startHost('tls-wrong-ca', (space) => clusterConfig(tlsEtcd.endpoints, space, tlsLines(certs.otherCa.certFile, certs.client)));
  const store = new Etcd3(tlsEtcd.clientOptions());
  try {
    await refusesClusterServesLocal(host, store, `TLS: etcd's server certificate is not trusted by the CA of cluster_tls_ca_file (${certs.otherCa.certFile}): unable to verify the first certificate`);
  } finally {
    store.close();
    await host.daemon.stop();
  }
});

test('TLS with a client certificate etcd does not trust: no lease, cluster ACQUIREs refused, local locks served, the log says why', async () => {
  const host = await startHost('tls-wrong-client', (space) => clusterConfig(tlsEtcd.endpoints, space, tlsLines(certs.ca.certFile, certs.otherClient)));
  const store = new Etcd3(tlsEtcd.clientOptions());
  try {
    await refusesClusterServesLocal(host, store, `TLS: etcd refused the client certificate of cluster_tls_cert_file (${certs.otherClient.certFile}): `);
  } finally {
    store.close();
    await host.daemon.stop();
  }
});

test('etcd authentication: the right password (its file ending in a newline) gets the lease and a hold', async () => {
  const passwordFile = join(dir, 'password-good');
  writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  const host = await startHost('auth-good', (space) => clusterConfig(authEtcd.endpoints, space, authLines(passwordFile)));
  const store = new Etcd3({ ...authEtcd.clientOptions(), auth: { username: USER, password: PASSWORD } });
  const client = await owner(host);
  try {
    await leased(host);
    assert.equal(await acquireError(client, host.clusterSpace, 'disk-auth'), null);
    const hold = await exclusiveHold(store, host.clusterSpace, 'disk-auth');
    assert.ok(hold, 'no hold in etcd');
    assert.equal(hold.host, 'tls-host');
  } finally {
    client.close();
    store.close();
    await host.daemon.stop();
  }
});

test('etcd authentication with a wrong password: no lease, cluster ACQUIREs refused, local locks served, the log says why', async () => {
  const passwordFile = join(dir, 'password-wrong');
  writeFileSync(passwordFile, 'not-the-password\n', { mode: 0o600 });
  const host = await startHost('auth-wrong', (space) => clusterConfig(authEtcd.endpoints, space, authLines(passwordFile)));
  const store = new Etcd3({ ...authEtcd.clientOptions(), auth: { username: USER, password: PASSWORD } });
  try {
    await refusesClusterServesLocal(host, store, `etcd refused user '${USER}' with the password of cluster_password_file (${passwordFile}): `);
  } finally {
    store.close();
    await host.daemon.stop();
  }
});

test('SIGUSR1 with the password file gone: the upgrade is refused naming it, and locks, lease and service stay; back, it upgrades', async () => {
  const passwordFile = join(dir, 'password-upgrade');
  writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  const host = await startHost('auth-upgrade', (space) => clusterConfig(authEtcd.endpoints, space, authLines(passwordFile)));
  const store = new Etcd3({ ...authEtcd.clientOptions(), auth: { username: USER, password: PASSWORD } });
  const client = await owner(host);
  const held = async (what: string): Promise<void> => {
    assert.ok(await exclusiveHold(store, host.clusterSpace, 'disk-up'), `${what}: the cluster hold is gone from etcd`);
    assert.equal((await probeLock(join(host.clusterSpace, 'disk-up'))).ofd.canWrite, false, `${what}: the cluster disk's local lock is gone`);
    assert.equal((await probeLock(join(host.localSpace, 'local-up'))).ofd.canWrite, false, `${what}: the local lock is gone`);
  };
  try {
    await leased(host);
    assert.equal(await acquireError(client, host.clusterSpace, 'disk-up'), null);
    assert.equal(await acquireError(client, host.localSpace, 'local-up'), null);
    renameSync(passwordFile, `${passwordFile}.away`);
    process.kill(host.daemon.pid, 'SIGUSR1');
    const refusal = new RegExp(`"reason":"the binary on disk refused the configuration: ${literally(passwordFile)}: the cluster_password_file cannot be read \\(ENOENT\\)","msg":"upgrade refused`);
    await waitFor(() => {
      // An exec into a configuration the new image refuses ends the daemon, and every lock with it.
      if (host.daemon.process.exitCode !== null) assert.fail(`the daemon exited (${host.daemon.process.exitCode}):\n${host.daemon.logs()}`);
      return refusal.test(host.daemon.logs());
    }, 30_000, () => `the upgrade's refusal in the logs:\n${host.daemon.logs()}`, 20);
    assert.doesNotMatch(host.daemon.logs(), /upgraded: restored/);
    await held('refused');
    // The running image keeps its clients (they read the password at start): the lease lives, ACQUIREs are served.
    assert.equal(await acquireError(client, host.clusterSpace, 'disk-up-2'), null);
    renameSync(`${passwordFile}.away`, passwordFile);
    process.kill(host.daemon.pid, 'SIGUSR1');
    await waitForLog(host.daemon.logs, /upgraded: restored every lock and client/, 1, 30_000);
    await held('upgraded');
    await leased(host);
  } finally {
    client.close();
    store.close();
    await host.daemon.stop();
  }
});

/** Runs holdfastd to its exit (it must not get as far as serving). */
function holdfastdOnce(run: string, config: string): ReturnType<typeof spawnSync> & { stderr: string } {
  const file = join(run, 'holdfastd.conf');
  writeFileSync(file, config);
  return spawnSync(process.execPath, [HOLDFASTD, '--run-dir', run, '-f', file], { cwd: run, encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
}

test('a TLS or password file that cannot be read: holdfastd does not start, one line names the file, exit 2', () => {
  const missing = join(dir, 'no-such-file.pem');
  const cases: { name: string; lines: string[]; endpoints: string[] }[] = [
    { name: 'CA', lines: tlsLines(missing, certs.client), endpoints: tlsEtcd.endpoints },
    { name: 'certificate', lines: tlsLines(certs.ca.certFile, { certFile: missing, keyFile: certs.client.keyFile }), endpoints: tlsEtcd.endpoints },
    { name: 'key', lines: tlsLines(certs.ca.certFile, { certFile: certs.client.certFile, keyFile: missing }), endpoints: tlsEtcd.endpoints },
    { name: 'password', lines: authLines(missing), endpoints: authEtcd.endpoints },
  ];
  for (const c of cases) {
    const run = mkdtempSync(join(dir, 'startup-'));
    const result = holdfastdOnce(run, clusterConfig(c.endpoints, run, c.lines));
    assert.equal(result.status, 2, `${c.name}: ${result.stderr}`);
    const lines = result.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${c.name}: one line, not:\n${result.stderr}`);
    assert.match(lines[0]!, new RegExp(`^holdfastd: .*${missing}`), c.name);
    assert.match(lines[0]!, /ENOENT/, c.name);
    assert.equal(existsSync(join(run, 'holdfastd-sock')), false, `${c.name}: nothing was bound`);
    assert.equal(existsSync(join(run, 'holdfastd.pid')), false, `${c.name}: no pid file`);
  }
  // An empty password file is refused as well.
  const run = mkdtempSync(join(dir, 'startup-'));
  const empty = join(run, 'empty-password');
  writeFileSync(empty, '\n');
  const result = holdfastdOnce(run, clusterConfig(authEtcd.endpoints, run, authLines(empty)));
  assert.equal(result.status, 2, result.stderr);
  assert.match(result.stderr, new RegExp(`^holdfastd: .*${empty}.*empty\\n$`));
});
