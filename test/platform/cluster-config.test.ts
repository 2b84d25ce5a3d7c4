// The cluster_* keys: each rule accepted and refused with its message (file:line), their defaults, the
// machine id as the default host id, and their resolution into the ClusterSettings a worker is given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClusterSettings } from '../../src/shared/cluster/cluster-settings';
import { isSupervisorMessage, type InitMessage, type WorkerSettings } from '../../src/shared/custody/messages';
import { clusterSettingsFromConfig, MACHINE_ID_FILE } from '../../src/supervisor/config/cluster-settings-from-config';
import { ConfigError } from '../../src/supervisor/config/config-error';
import { loadConfig } from '../../src/supervisor/config/load-config';
import { CLUSTER_KEYS, type HoldfastConfig } from '../../src/supervisor/config/schema';
import { workerSettings } from '../../src/supervisor/worker-settings';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-cluster-config-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
let counter = 0;

function writeFile(text: string, name = `c${++counter}.conf`): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function load(lines: string[]): HoldfastConfig {
  return loadConfig(writeFile(lines.join('\n') + '\n'), {}, { uid: 0, env: {} });
}

/** The ConfigError message loadConfig gives for these lines, with the file's path replaced by "F". */
function loadError(lines: string[]): string {
  const file = writeFile(lines.join('\n') + '\n');
  try {
    loadConfig(file, {}, { uid: 0, env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.message.split(file).join('F');
  }
  assert.fail(`no error for ${JSON.stringify(lines)}`);
}

// The least a cluster needs: endpoints and something cluster-wide.
const ENDPOINTS = 'cluster_etcd_endpoints = [ "http://127.0.0.1:2379" ]';
const LOCKSPACES = 'cluster_lockspaces = [ "/var/lib/libvirt/lockd/files" ]';
const HTTPS = 'cluster_etcd_endpoints = [ "https://etcd1:2379", "https://etcd2:2379" ]';

// A value each key accepts, to show that alone (without endpoints) it is refused all the same.
const VALID: Record<(typeof CLUSTER_KEYS)[number], string> = {
  cluster_etcd_endpoints: '[ "http://127.0.0.1:2379" ]',
  cluster_lockspaces: '[ "/var/lib/libvirt/lockd/files" ]',
  cluster_path_prefixes: '[ "/srv/images/" ]',
  cluster_host_id: '"host-1"',
  cluster_lease_ttl_ms: '10000',
  cluster_key_prefix: '"/holdfast/"',
  cluster_tls_ca_file: '"/etc/hf/ca.pem"',
  cluster_tls_cert_file: '"/etc/hf/cert.pem"',
  cluster_tls_key_file: '"/etc/hf/key.pem"',
  cluster_username: '"holdfast"',
  cluster_password_file: '"/etc/hf/password"',
  cluster_watchdog_device: '"/dev/watchdog"',
  cluster_watchdog_timeout_ms: '6000',
};

// ---- no cluster ----

test('without cluster_etcd_endpoints: no cluster, no cluster keys but the two inert defaults, and no machine id read', () => {
  const cfg = load(['log_level = 3']);
  assert.deepEqual(
    Object.keys(cfg).filter((k) => k.startsWith('cluster_')),
    ['cluster_lease_ttl_ms', 'cluster_key_prefix'],
  );
  assert.equal(cfg.cluster_lease_ttl_ms, 10000);
  assert.equal(cfg.cluster_key_prefix, '/holdfast/');
  assert.equal(clusterSettingsFromConfig(cfg, { machineIdFile: path.join(dir, 'no-such-machine-id') }), null);
});

test('every other cluster key without cluster_etcd_endpoints is refused, at its line', () => {
  for (const key of CLUSTER_KEYS) {
    if (key === 'cluster_etcd_endpoints') continue;
    assert.equal(loadError(['log_level = 3', `${key} = ${VALID[key]}`]), `F:2: ${key} needs cluster_etcd_endpoints`);
  }
  // Even set to its default: a default written out says the operator meant a cluster.
  assert.equal(loadError(['cluster_lease_ttl_ms = 10000']), 'F:1: cluster_lease_ttl_ms needs cluster_etcd_endpoints');
  assert.equal(
    loadError(['cluster_lockspaces = [ "/a" ]', 'cluster_host_id = "h"']),
    ['F:1: cluster_lockspaces needs cluster_etcd_endpoints', 'F:2: cluster_host_id needs cluster_etcd_endpoints'].join('\n'),
  );
});

// ---- endpoints ----

test('cluster_etcd_endpoints: a list of one or more http:// or https:// URLs, each once', () => {
  assert.deepEqual(load([ENDPOINTS, LOCKSPACES]).cluster_etcd_endpoints, ['http://127.0.0.1:2379']);
  assert.deepEqual(load([HTTPS, LOCKSPACES]).cluster_etcd_endpoints, ['https://etcd1:2379', 'https://etcd2:2379']);
  assert.deepEqual(load(['cluster_etcd_endpoints = [ "http://[::1]:2379/" ]', LOCKSPACES]).cluster_etcd_endpoints, ['http://[::1]:2379/']);
  const rule = 'cluster_etcd_endpoints must be a list of one or more http:// or https:// URLs';
  assert.equal(loadError(['cluster_etcd_endpoints = []', LOCKSPACES]), `F:1: ${rule} (got an empty list)`);
  assert.equal(loadError(['cluster_etcd_endpoints = "http://a:2379"', LOCKSPACES]), `F:1: ${rule} (got the string "http://a:2379")`);
  assert.equal(loadError(['cluster_etcd_endpoints = [ "http://a:2379", "a:2379" ]', LOCKSPACES]), `F:1: ${rule} (got the string "a:2379" in the list)`);
  assert.equal(loadError(['cluster_etcd_endpoints = [ 2379 ]', LOCKSPACES]), `F:1: ${rule} (got 2379 in the list)`);
  assert.equal(loadError(['cluster_etcd_endpoints = [ "unix://x" ]', LOCKSPACES]), `F:1: ${rule} (got the string "unix://x" in the list)`);
  assert.equal(
    loadError(['cluster_etcd_endpoints = [ "http://a:2379", "http://a:2379" ]', LOCKSPACES]),
    'F:1: cluster_etcd_endpoints must not name the same entry twice (got the string "http://a:2379" twice)',
  );
});

test('cluster_etcd_endpoints: each is scheme://host[:port]', () => {
  assert.equal(loadError(['cluster_etcd_endpoints = [ "http://a:99999" ]', LOCKSPACES]), "F:1: cluster_etcd_endpoints: 'http://a:99999' is not a URL");
  assert.equal(
    loadError(['cluster_etcd_endpoints = [ "http://a:2379/v3" ]', LOCKSPACES]),
    "F:1: cluster_etcd_endpoints: 'http://a:2379/v3' must be scheme://host[:port], without a path",
  );
  assert.equal(
    loadError(['cluster_etcd_endpoints = [ "http://a:2379?x=1" ]', LOCKSPACES]),
    "F:1: cluster_etcd_endpoints: 'http://a:2379?x=1' must be scheme://host[:port], without a path",
  );
  assert.equal(
    loadError(['cluster_etcd_endpoints = [ "https://root:secret@a:2379" ]', LOCKSPACES]),
    "F:1: cluster_etcd_endpoints: 'https://root:secret@a:2379' must not carry a user or password (use cluster_username and cluster_password_file)",
  );
});

test('cluster_etcd_endpoints: http and https mixed are refused', () => {
  assert.equal(
    loadError(['cluster_etcd_endpoints = [ "http://a:2379", "https://b:2379" ]', LOCKSPACES]),
    'F:1: cluster_etcd_endpoints mixes http:// and https:// endpoints; use one scheme for all',
  );
});

// ---- what is cluster-wide ----

test('a cluster with neither lockspaces nor path prefixes is refused; either alone is enough', () => {
  const nothing = 'F:1: cluster_etcd_endpoints is set but neither cluster_lockspaces nor cluster_path_prefixes names a path: no lock would be cluster-wide';
  assert.equal(loadError([ENDPOINTS]), nothing);
  assert.equal(loadError([ENDPOINTS, 'cluster_lockspaces = []', 'cluster_path_prefixes = []']), nothing);
  assert.deepEqual(load([ENDPOINTS, LOCKSPACES]).cluster_lockspaces, ['/var/lib/libvirt/lockd/files']);
  assert.deepEqual(load([ENDPOINTS, 'cluster_path_prefixes = [ "/srv/images/", "/mnt/shared/" ]']).cluster_path_prefixes, ['/srv/images/', '/mnt/shared/']);
});

test('cluster_lockspaces and cluster_path_prefixes: absolute, normalised paths, each once', () => {
  for (const key of ['cluster_lockspaces', 'cluster_path_prefixes']) {
    assert.equal(loadError([ENDPOINTS, `${key} = [ "/a", "lockd/files" ]`]), `F:2: ${key} must be a list of absolute paths (got the string "lockd/files" in the list)`);
    assert.equal(loadError([ENDPOINTS, `${key} = "/a"`]), `F:2: ${key} must be a list of absolute paths (got the string "/a")`);
    assert.equal(loadError([ENDPOINTS, `${key} = [ "/a", "/a" ]`]), `F:2: ${key} must not name the same entry twice (got the string "/a" twice)`);
    assert.equal(loadError([ENDPOINTS, `${key} = [ "/a//b" ]`]), `F:2: ${key}: '/a//b' is not a normalised path (write '/a/b')`);
    assert.equal(loadError([ENDPOINTS, `${key} = [ "/a/../b" ]`]), `F:2: ${key}: '/a/../b' is not a normalised path (write '/b')`);
    assert.equal(loadError([ENDPOINTS, `${key} = [ "/a/./b/" ]`]), `F:2: ${key}: '/a/./b/' is not a normalised path (write '/a/b/')`);
  }
  // A trailing '/' is kept: a prefix that ends a directory.
  assert.deepEqual(load([ENDPOINTS, 'cluster_lockspaces = [ "/a/" ]']).cluster_lockspaces, ['/a/']);
});

// ---- host id, lease TTL, key prefix ----

test('cluster_host_id: 1 to 64 of [A-Za-z0-9._-]', () => {
  assert.equal(load([ENDPOINTS, LOCKSPACES, 'cluster_host_id = "Node-1.example_A"']).cluster_host_id, 'Node-1.example_A');
  assert.equal(load([ENDPOINTS, LOCKSPACES, `cluster_host_id = "${'h'.repeat(64)}"`]).cluster_host_id, 'h'.repeat(64));
  const rule = 'F:3: cluster_host_id must be a name of 1 to 64 letters, digits, ".", "_" or "-"';
  assert.equal(loadError([ENDPOINTS, LOCKSPACES, `cluster_host_id = "${'h'.repeat(65)}"`]), `${rule} (got the string "${'h'.repeat(65)}")`);
  assert.equal(loadError([ENDPOINTS, LOCKSPACES, 'cluster_host_id = ""']), `${rule} (got the string "")`);
  assert.equal(loadError([ENDPOINTS, LOCKSPACES, 'cluster_host_id = "a/b"']), `${rule} (got the string "a/b")`);
  assert.equal(loadError([ENDPOINTS, LOCKSPACES, 'cluster_host_id = "a b"']), `${rule} (got the string "a b")`);
  assert.equal(loadError([ENDPOINTS, LOCKSPACES, 'cluster_host_id = 7']), `${rule} (got 7)`);
});

test('cluster_lease_ttl_ms: whole seconds from 2000 to 600000, default 10000', () => {
  assert.equal(load([ENDPOINTS, LOCKSPACES]).cluster_lease_ttl_ms, 10000);
  assert.equal(load([ENDPOINTS, LOCKSPACES, 'cluster_lease_ttl_ms = 2000']).cluster_lease_ttl_ms, 2000);
  assert.equal(load([ENDPOINTS, LOCKSPACES, 'cluster_lease_ttl_ms = 600000']).cluster_lease_ttl_ms, 600000);
  const rule = 'F:3: cluster_lease_ttl_ms must be an integer from 2000 to 600000, a multiple of 1000';
  for (const bad of [1000, 1999, 2500, 601000, -3000, 0]) {
    assert.equal(loadError([ENDPOINTS, LOCKSPACES, `cluster_lease_ttl_ms = ${bad}`]), `${rule} (got ${bad})`);
  }
  assert.equal(loadError([ENDPOINTS, LOCKSPACES, 'cluster_lease_ttl_ms = "10000"']), `${rule} (got the string "10000")`);
});

test("cluster_key_prefix: starts and ends with '/', default /holdfast/", () => {
  assert.equal(load([ENDPOINTS, LOCKSPACES]).cluster_key_prefix, '/holdfast/');
  assert.equal(load([ENDPOINTS, LOCKSPACES, 'cluster_key_prefix = "/"']).cluster_key_prefix, '/');
  assert.equal(load([ENDPOINTS, LOCKSPACES, 'cluster_key_prefix = "/site-a/holdfast/"']).cluster_key_prefix, '/site-a/holdfast/');
  const rule = 'F:3: cluster_key_prefix must be a string of printable characters without spaces that starts and ends with "/"';
  for (const bad of ['holdfast/', '/holdfast', '', '/a b/', '/é/']) {
    assert.equal(loadError([ENDPOINTS, LOCKSPACES, `cluster_key_prefix = "${bad}"`]), `${rule} (got the string ${JSON.stringify(bad)})`);
  }
});

// ---- TLS and authentication ----

test('TLS: https endpoints with or without files; cert and key together; any TLS file needs https', () => {
  // System CAs: https without a CA file.
  assert.equal(load([HTTPS, LOCKSPACES]).cluster_tls_ca_file, undefined);
  const all = load([HTTPS, LOCKSPACES, 'cluster_tls_ca_file = "/etc/hf/ca.pem"', 'cluster_tls_cert_file = "/etc/hf/c.pem"', 'cluster_tls_key_file = "/etc/hf/k.pem"']);
  assert.deepEqual([all.cluster_tls_ca_file, all.cluster_tls_cert_file, all.cluster_tls_key_file], ['/etc/hf/ca.pem', '/etc/hf/c.pem', '/etc/hf/k.pem']);
  assert.equal(load([HTTPS, LOCKSPACES, 'cluster_tls_ca_file = "/etc/hf/ca.pem"']).cluster_tls_ca_file, '/etc/hf/ca.pem');
  assert.equal(load([HTTPS, LOCKSPACES, 'cluster_tls_cert_file = "/c"', 'cluster_tls_key_file = "/k"']).cluster_tls_key_file, '/k');

  assert.equal(loadError([HTTPS, LOCKSPACES, 'cluster_tls_cert_file = "/c"']), 'F:3: cluster_tls_cert_file needs cluster_tls_key_file');
  assert.equal(loadError([HTTPS, LOCKSPACES, 'cluster_tls_key_file = "/k"']), 'F:3: cluster_tls_key_file needs cluster_tls_cert_file');
  for (const key of ['cluster_tls_ca_file', 'cluster_tls_cert_file', 'cluster_tls_key_file']) {
    assert.equal(loadError([HTTPS, LOCKSPACES, `${key} = "ca.pem"`]), `F:3: ${key} must be an absolute path (got the string "ca.pem")`);
  }
  assert.equal(
    loadError([ENDPOINTS, LOCKSPACES, 'cluster_tls_ca_file = "/etc/hf/ca.pem"']),
    'F:3: cluster_tls_ca_file needs https:// endpoints (cluster_etcd_endpoints are http://)',
  );
  assert.equal(
    loadError([ENDPOINTS, LOCKSPACES, 'cluster_tls_cert_file = "/c"', 'cluster_tls_key_file = "/k"']),
    [
      'F:3: cluster_tls_cert_file needs https:// endpoints (cluster_etcd_endpoints are http://)',
      'F:4: cluster_tls_key_file needs https:// endpoints (cluster_etcd_endpoints are http://)',
    ].join('\n'),
  );
});

test('authentication: cluster_username and cluster_password_file together or neither', () => {
  const both = load([ENDPOINTS, LOCKSPACES, 'cluster_username = "holdfast"', 'cluster_password_file = "/etc/hf/password"']);
  assert.deepEqual([both.cluster_username, both.cluster_password_file], ['holdfast', '/etc/hf/password']);
  assert.equal(loadError([ENDPOINTS, LOCKSPACES, 'cluster_username = "holdfast"']), 'F:3: cluster_username needs cluster_password_file');
  assert.equal(loadError([ENDPOINTS, LOCKSPACES, 'cluster_password_file = "/p"']), 'F:3: cluster_password_file needs cluster_username');
  assert.equal(
    loadError([ENDPOINTS, LOCKSPACES, 'cluster_username = "hold fast"', 'cluster_password_file = "/p"']),
    'F:3: cluster_username must be a string of 1 to 128 printable characters without spaces (got the string "hold fast")',
  );
  assert.equal(
    loadError([ENDPOINTS, LOCKSPACES, 'cluster_username = "u"', 'cluster_password_file = "p"']),
    'F:4: cluster_password_file must be an absolute path (got the string "p")',
  );
});

test('cluster_watchdog_device: an absolute path', () => {
  assert.equal(load([ENDPOINTS, LOCKSPACES, 'cluster_watchdog_device = "/dev/watchdog0"', 'cluster_watchdog_timeout_ms = 6000']).cluster_watchdog_device, '/dev/watchdog0');
  assert.equal(loadError([ENDPOINTS, LOCKSPACES, 'cluster_watchdog_device = "watchdog"', 'cluster_watchdog_timeout_ms = 6000']), 'F:3: cluster_watchdog_device must be an absolute path (got the string "watchdog")');
});

test('cluster_watchdog_timeout_ms: needed with the device, and within the window that resets the host before the lease can expire', () => {
  assert.equal(loadError([ENDPOINTS, LOCKSPACES, 'cluster_watchdog_device = "/dev/watchdog"']), 'F:3: cluster_watchdog_device needs cluster_watchdog_timeout_ms');
  // TTL 10000: a third plus 500 ms = 3834; 10000/1.01 - 1000 - 500 = 8400.
  assert.equal(load([ENDPOINTS, LOCKSPACES, 'cluster_watchdog_device = "/dev/watchdog"', 'cluster_watchdog_timeout_ms = 3834']).cluster_watchdog_timeout_ms, 3834);
  assert.equal(load([ENDPOINTS, LOCKSPACES, 'cluster_watchdog_device = "/dev/watchdog"', 'cluster_watchdog_timeout_ms = 8400']).cluster_watchdog_timeout_ms, 8400);
  assert.equal(
    loadError([ENDPOINTS, LOCKSPACES, 'cluster_watchdog_device = "/dev/watchdog"', 'cluster_watchdog_timeout_ms = 10000']),
    'F:4: cluster_watchdog_timeout_ms must be from 3834 to 8400 with a cluster_lease_ttl_ms of 10000 (got 10000)',
  );
  assert.equal(
    loadError([ENDPOINTS, LOCKSPACES, 'cluster_lease_ttl_ms = 2000', 'cluster_watchdog_device = "/dev/watchdog"', 'cluster_watchdog_timeout_ms = 1000']),
    'F:5: cluster_watchdog_timeout_ms: no watchdog timeout fits a cluster_lease_ttl_ms of 2000 (raise the TTL)',
  );
});

test('every problem of the cluster keys is reported, in line order', () => {
  assert.equal(
    loadError(['cluster_etcd_endpoints = [ "http://a:2379", "https://b:2379" ]', 'cluster_username = "u"', 'cluster_lockspaces = [ "/x//y" ]']),
    [
      'F:1: cluster_etcd_endpoints mixes http:// and https:// endpoints; use one scheme for all',
      'F:2: cluster_username needs cluster_password_file',
      "F:3: cluster_lockspaces: '/x//y' is not a normalised path (write '/x/y')",
    ].join('\n'),
  );
});

// ---- the resolver ----

test('the resolver: every key into ClusterSettings', () => {
  // The files must exist: the resolver reads them (and drops what it read).
  const [ca, cert, key, password] = ['ca.pem', 'cert.pem', 'key.pem', 'password'].map((name) => writeFile(`${name}\n`, `resolver-${name}`));
  const cfg = load([
    HTTPS,
    'cluster_lockspaces = [ "/var/lib/libvirt/lockd/files", "/var/lib/libvirt/lockd/lvmvolumes" ]',
    'cluster_path_prefixes = [ "/srv/images/" ]',
    'cluster_host_id = "host-1"',
    'cluster_lease_ttl_ms = 15000',
    'cluster_key_prefix = "/site-a/"',
    `cluster_tls_ca_file = ${JSON.stringify(ca)}`,
    `cluster_tls_cert_file = ${JSON.stringify(cert)}`,
    `cluster_tls_key_file = ${JSON.stringify(key)}`,
    'cluster_username = "holdfast"',
    `cluster_password_file = ${JSON.stringify(password)}`,
    'cluster_watchdog_device = "/dev/watchdog"',
    'cluster_watchdog_timeout_ms = 6000',
  ]);
  const expected: ClusterSettings = {
    endpoints: ['https://etcd1:2379', 'https://etcd2:2379'],
    tls: { caFile: ca!, certFile: cert!, keyFile: key! },
    auth: { username: 'holdfast', passwordFile: password! },
    lockspaces: ['/var/lib/libvirt/lockd/files', '/var/lib/libvirt/lockd/lvmvolumes'],
    pathPrefixes: ['/srv/images/'],
    hostId: 'host-1',
    leaseTtlMs: 15000,
    keyPrefix: '/site-a/',
    watchdogDevice: '/dev/watchdog',
    watchdogTimeoutMs: 6000,
  };
  // An explicit host id: the machine id is not read (the file named here does not exist).
  assert.deepEqual(clusterSettingsFromConfig(cfg, { machineIdFile: path.join(dir, 'no-such-machine-id') }), expected);
});

test('the resolver: a TLS or password file that cannot be read, or an empty password file, is a ConfigError naming it', () => {
  const machineIdFile = path.join(dir, 'no-such-machine-id');
  const missing = path.join(dir, 'no-such-file.pem');
  for (const [key, lines] of [
    ['cluster_tls_ca_file', [HTTPS, LOCKSPACES, 'cluster_host_id = "h"', `cluster_tls_ca_file = ${JSON.stringify(missing)}`]],
    ['cluster_password_file', [ENDPOINTS, LOCKSPACES, 'cluster_host_id = "h"', 'cluster_username = "u"', `cluster_password_file = ${JSON.stringify(missing)}`]],
  ] as const) {
    assert.throws(() => clusterSettingsFromConfig(load([...lines]), { machineIdFile }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, `${missing}: the ${key} cannot be read (ENOENT)`);
      return true;
    });
  }
  const empty = writeFile('\n', 'empty-password');
  assert.throws(
    () => clusterSettingsFromConfig(load([ENDPOINTS, LOCKSPACES, 'cluster_host_id = "h"', 'cluster_username = "u"', `cluster_password_file = ${JSON.stringify(empty)}`]), { machineIdFile }),
    (err: unknown) => err instanceof ConfigError && err.message === `${empty}: the cluster_password_file is empty`,
  );
});

test('the resolver: the least cluster, with defaults and the host id from the machine id', () => {
  const machineId = writeFile('0123456789abcdef0123456789abcdef\n', 'machine-id');
  assert.deepEqual(clusterSettingsFromConfig(load([ENDPOINTS, 'cluster_path_prefixes = [ "/srv/" ]']), { machineIdFile: machineId }), {
    endpoints: ['http://127.0.0.1:2379'],
    tls: { caFile: null, certFile: null, keyFile: null },
    auth: null,
    lockspaces: [],
    pathPrefixes: ['/srv/'],
    hostId: '0123456789abcdef0123456789abcdef',
    leaseTtlMs: 10000,
    keyPrefix: '/holdfast/',
    watchdogDevice: null,
    watchdogTimeoutMs: null,
  } satisfies ClusterSettings);
  // The default path is systemd's, and this machine's id is read from it when it has one.
  assert.equal(MACHINE_ID_FILE, '/etc/machine-id');
  if (fs.existsSync(MACHINE_ID_FILE)) {
    assert.equal(clusterSettingsFromConfig(load([ENDPOINTS, LOCKSPACES]))?.hostId, fs.readFileSync(MACHINE_ID_FILE, 'utf8').trim());
  }
});

test('the resolver: no machine id to default to is a ConfigError asking for cluster_host_id', () => {
  const cfg = load([ENDPOINTS, LOCKSPACES]);
  const resolveWith = (file: string): string => {
    try {
      clusterSettingsFromConfig(cfg, { machineIdFile: file });
    } catch (err) {
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
      return err.message.split(dir).join('D');
    }
    assert.fail(`no error for the machine id file ${file}`);
  };
  assert.equal(resolveWith(path.join(dir, 'missing')), 'D/missing: cannot read the machine id, the default cluster_host_id (ENOENT); set cluster_host_id');
  assert.equal(resolveWith(dir), `D: cannot read the machine id, the default cluster_host_id (EISDIR); set cluster_host_id`);
  for (const [name, text] of [['empty', ''], ['uninitialized', 'uninitialized\n'], ['short', '0123456789abcdef\n'], ['upper', '0123456789ABCDEF0123456789ABCDEF\n']]) {
    assert.equal(resolveWith(writeFile(text!, name)), `D/${name}: holds no machine id (32 hex digits), the default cluster_host_id; set cluster_host_id`);
  }
  // With cluster_host_id set, no machine id is needed.
  assert.equal(clusterSettingsFromConfig(load([ENDPOINTS, LOCKSPACES, 'cluster_host_id = "h1"']), { machineIdFile: path.join(dir, 'missing') })?.hostId, 'h1');
});

// ---- the worker's settings ----

function initWith(settings: WorkerSettings): InitMessage {
  return { type: 'init', generation: 1, settings, listeners: [], expectedRecords: 0, nextClientId: 1, replyPipe: { read: 0, write: 1, capacity: 65536 } };
}

test('the worker settings: the cluster when one is configured, else no cluster field at all', () => {
  const machineId = writeFile('0123456789abcdef0123456789abcdef\n', 'machine-id-1');
  const plainConfig = load(['log_level = 3']);
  const plain = workerSettings(plainConfig, clusterSettingsFromConfig(plainConfig, { machineIdFile: machineId }), 0);
  assert.equal('cluster' in plain, false);
  assert.deepEqual(Object.keys(plain), [
    'maxClients', 'adminMaxClients', 'allowedUid', 'ownerKillTermGraceMs', 'ownerKillGiveUpMs', 'frameMaxBytesPerClient',
    'frameMaxBytesTotal', 'frameDeadlineMs', 'logLevel', 'logFormat', 'logOutputs', 'logFilters',
  ]);
  const clusterConfig = load([ENDPOINTS, LOCKSPACES]);
  const cluster = clusterSettingsFromConfig(clusterConfig, { machineIdFile: machineId });
  assert.ok(cluster);
  const withCluster = workerSettings(clusterConfig, cluster, 0);
  assert.deepEqual(withCluster.cluster, cluster);
  const { cluster: _, ...rest } = withCluster;
  assert.deepEqual(rest, plain, 'nothing else changes');
});

test("the worker's init message carries the resolved cluster settings, and its schema holds them to their shape", () => {
  const machineId = writeFile('0123456789abcdef0123456789abcdef\n', 'machine-id-2');
  const passwordFile = writeFile('p\n', 'init-password');
  const config = load([HTTPS, LOCKSPACES, 'cluster_username = "u"', `cluster_password_file = ${JSON.stringify(passwordFile)}`, 'cluster_watchdog_device = "/dev/watchdog"', 'cluster_watchdog_timeout_ms = 6000']);
  const cluster = clusterSettingsFromConfig(config, { machineIdFile: machineId });
  assert.ok(cluster);
  const PLAIN_SETTINGS = workerSettings(config, null, 0);
  assert.ok(isSupervisorMessage(initWith(PLAIN_SETTINGS)), 'without a cluster, as before');
  assert.ok(isSupervisorMessage(initWith({ ...PLAIN_SETTINGS, cluster })), JSON.stringify(isSupervisorMessage.errors));
  // JSON as the channel carries it: what arrives is what was resolved.
  assert.deepEqual((JSON.parse(JSON.stringify(initWith({ ...PLAIN_SETTINGS, cluster }))) as InitMessage).settings.cluster, cluster);
  assert.equal(isSupervisorMessage(initWith({ ...PLAIN_SETTINGS, cluster: { ...cluster, endpoints: [] } })), false);
  assert.equal(isSupervisorMessage(initWith({ ...PLAIN_SETTINGS, cluster: { ...cluster, tls: { caFile: null, certFile: null } } as unknown as ClusterSettings })), false);
  assert.equal(isSupervisorMessage(initWith({ ...PLAIN_SETTINGS, cluster: { ...cluster, extra: 1 } as unknown as ClusterSettings })), false);
});
