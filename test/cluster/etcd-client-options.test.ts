// The etcd client options: files read up front with errors that name them, the password as the file holds
// it less its trailing newline, and calls that fail within their deadline when etcd stops answering.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Etcd3, GRPCDeadlineExceededError } from 'etcd3';
import type { EtcdConnectionSettings } from '../../src/shared/cluster/cluster-settings';
import { ETCD_REQUEST_TIMEOUT_MS, etcdClientOptions } from '../../src/shared/cluster/etcd-client-options';
import { startEtcdCluster, type EtcdCluster } from '../fixtures/etcd-cluster';

let dir: string;
let cluster: EtcdCluster;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-etcd-options-'));
  cluster = await startEtcdCluster();
});
after(async () => {
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
});

const plain = (endpoints: string[]): EtcdConnectionSettings => ({ endpoints, tls: { caFile: null, certFile: null, keyFile: null }, auth: null });

test('plain settings: the endpoints as hosts, no credentials, no auth, a deadline on unary calls only', () => {
  const options = etcdClientOptions(plain(['http://127.0.0.1:1', 'http://127.0.0.1:2']));
  assert.deepEqual(options.hosts, ['http://127.0.0.1:1', 'http://127.0.0.1:2']);
  assert.equal(options.credentials, undefined);
  assert.equal(options.auth, undefined);
  const factory = options.defaultCallOptions as (ctx: { isStream: boolean }) => { deadline?: number };
  const before = Date.now();
  const unary = factory({ isStream: false }).deadline!;
  assert.ok(unary >= before + ETCD_REQUEST_TIMEOUT_MS && unary <= Date.now() + ETCD_REQUEST_TIMEOUT_MS);
  assert.equal(factory({ isStream: true }).deadline, undefined);
});

test('TLS: the three PEM files are read as they are', () => {
  const files = { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
  for (const [k, f] of Object.entries(files)) writeFileSync(f, `-----BEGIN ${k}-----\n`);
  const options = etcdClientOptions({ ...plain(['https://127.0.0.1:1']), tls: files });
  assert.equal(options.credentials!.rootCertificate.toString(), '-----BEGIN caFile-----\n');
  assert.equal(options.credentials!.certChain!.toString(), '-----BEGIN certFile-----\n');
  assert.equal(options.credentials!.privateKey!.toString(), '-----BEGIN keyFile-----\n');
});

test('TLS: a missing file is an Error naming it; a certificate without its key is refused', () => {
  const missing = join(dir, 'no-such-ca.pem');
  assert.throws(() => etcdClientOptions({ ...plain(['https://127.0.0.1:1']), tls: { caFile: missing, certFile: null, keyFile: null } }), (err: Error) => err.message.includes(missing) && err.message.includes('cluster_tls_ca_file'));
  const cert = join(dir, 'only-cert.pem');
  writeFileSync(cert, 'x');
  assert.throws(() => etcdClientOptions({ ...plain(['https://127.0.0.1:1']), tls: { caFile: null, certFile: cert, keyFile: null } }), /both a certificate and its key/);
});

test('auth: the password file less its trailing newline; a missing or empty file is an Error naming it', () => {
  const file = join(dir, 'password');
  writeFileSync(file, 's3cret \n');
  assert.deepEqual(etcdClientOptions({ ...plain(['http://127.0.0.1:1']), auth: { username: 'holdfast', passwordFile: file } }).auth, { username: 'holdfast', password: 's3cret ' });
  writeFileSync(file, 'crlf\r\n');
  assert.equal(etcdClientOptions({ ...plain(['http://127.0.0.1:1']), auth: { username: 'u', passwordFile: file } }).auth!.password, 'crlf');
  writeFileSync(file, '\n');
  assert.throws(() => etcdClientOptions({ ...plain(['http://127.0.0.1:1']), auth: { username: 'u', passwordFile: file } }), (err: Error) => err.message.includes(file) && /empty/.test(err.message));
  const missing = join(dir, 'no-such-password');
  assert.throws(() => etcdClientOptions({ ...plain(['http://127.0.0.1:1']), auth: { username: 'u', passwordFile: missing } }), (err: Error) => err.message.includes(missing));
});

test('a client built from them serves, and fails its calls (not hangs) while every member is stopped with SIGSTOP', { timeout: 20_000 }, async () => {
  const client = new Etcd3(etcdClientOptions(plain(cluster.endpoints)));
  try {
    await client.put('options/a').value('1');
    assert.equal(await client.get('options/a').string(), '1');
    const pids = cluster.members.map((m) => m.pid!);
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      // Without a deadline this call waits forever on the frozen members (the test's timeout would end it);
      // retried with a fresh deadline each time it would take several deadlines.
      const start = Date.now();
      await assert.rejects(client.get('options/a').string(), GRPCDeadlineExceededError);
      const took = Date.now() - start;
      assert.ok(took < 2 * ETCD_REQUEST_TIMEOUT_MS, `the call failed after ${took} ms, more than one deadline`);
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
  } finally {
    client.close();
  }
});
