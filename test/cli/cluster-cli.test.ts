// `holdfast cluster`, `status` and `metrics` against real holdfastd daemons, one with a cluster whose etcd
// endpoints never answer (one refuses connections, one accepts and stays silent) and one without a cluster.
// No etcd is needed: what is under test is the report's way from the supervisor and the worker to the CLI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NO_CLUSTER } from '../../src/cli/commands/cluster';
import type { ClusterReply, StatusReply } from '../../src/shared/protocol/operations-program';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';

const CLI = join(__dirname, '..', '..', 'src', 'cli', 'holdfast.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function holdfast(dir: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--run-dir', dir, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** A port nothing listens on (bound, then closed). */
async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('holdfast cluster on a host whose etcd endpoints do not answer', () => {
  let dir: string;
  let daemon: HoldfastHandle;
  let silent: net.Server;
  const held: net.Socket[] = [];
  let refused: string;
  let quiet: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'holdfast-cluster-cli-'));
    // Accepts and never says a word: only the report's own bound ends the wait for it.
    silent = net.createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    refused = `http://127.0.0.1:${await refusedPort()}`;
    quiet = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const config = [
      `cluster_etcd_endpoints = [ "${refused}", "${quiet}" ]`,
      'cluster_lockspaces = [ "/var/lib/libvirt/lockd/files" ]',
      'cluster_path_prefixes = [ "/srv/images/" ]',
      'cluster_host_id = "test-host"',
      'cluster_key_prefix = "/hf-test/"',
      '',
    ].join('\n');
    daemon = await startHoldfast({ dir, config });
  });

  after(async () => {
    await daemon?.stop();
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  test('--json: the host, the scope, both endpoints unhealthy, the lease still being granted, no holds', async () => {
    const run = await holdfast(dir, '--json', 'cluster');
    assert.equal(run.code, 0, run.stderr);
    const reply = JSON.parse(run.stdout) as ClusterReply;
    assert.ok(reply.configured);
    assert.equal(reply.hostId, 'test-host');
    assert.equal(reply.keyPrefix, '/hf-test/');
    assert.deepEqual(reply.lockspaces, ['/var/lib/libvirt/lockd/files']);
    assert.deepEqual(reply.pathPrefixes, ['/srv/images/']);
    assert.deepEqual(reply.endpoints.map((e) => [e.endpoint, e.healthy, e.version, e.leader]), [
      [refused, false, null, null],
      [quiet, false, null, null],
    ]);
    for (const e of reply.endpoints) assert.ok(e.error && !e.error.includes('\n'), `one-line error for ${e.endpoint}: ${e.error}`);
    assert.equal(reply.lease.state, 'granting');
    assert.equal(reply.lease.id, null);
    assert.equal(reply.lease.msLeft, null);
    assert.equal(reply.lease.ttlMs, 10000);
    assert.deepEqual(reply.holdCounts, { exclusive: 0, shared: 0, pending: 0 });
    assert.deepEqual(reply.holds, []);
    assert.deepEqual(reply.requests, { granted: 0, busy: 0, unavailable: 0, lateGrants: 0, released: 0, releaseRetries: 0 });
    // The supervisor's status reached the worker with its cluster part.
    assert.deepEqual(reply.fences, { total: 0, ownersKilled: 0, killFailures: 0, last: [] });
  });

  test('the table: summary lines and the endpoints', async () => {
    const run = await holdfast(dir, 'cluster');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^host:\s+test-host \(etcd keys under \/hf-test\/\)$/m);
    assert.match(run.stdout, /^lease:\s+granting \(no lease from etcd yet\), ttl 10s$/m);
    assert.match(run.stdout, /^ENDPOINT\s+HEALTH\s+VERSION\s+LEADER\s+ERROR$/m);
    assert.match(run.stdout, new RegExp(`^${quiet.replace(/[.:/]/g, '\\$&')}\\s+UNHEALTHY\\s`, 'm'));
    assert.match(run.stdout, /^no cluster holds on this host$/m);
  });

  test("status carries the supervisor's cluster part", async () => {
    const run = await holdfast(dir, '--json', 'status');
    assert.equal(run.code, 0, run.stderr);
    const status = JSON.parse(run.stdout) as StatusReply;
    assert.equal(status.supervisor?.cluster?.lease.state, 'granting');
    assert.equal(status.supervisor?.cluster?.fences, 0);
    const table = await holdfast(dir, 'status');
    assert.match(table.stdout, /^cluster:\s+lease granting; 0 fence\(s\), 0 owner\(s\) killed$/m);
  });

  test('metrics: the holdfast_cluster_* families', async () => {
    const run = await holdfast(dir, 'metrics');
    assert.equal(run.code, 0, run.stderr);
    for (const line of [
      'holdfast_cluster_holds_requested_total{result="granted"} 0',
      'holdfast_cluster_releases_total 0',
      'holdfast_cluster_holds{state="pending"} 0',
      'holdfast_cluster_lease_held 0',
      'holdfast_cluster_lease_ms_left 0',
      'holdfast_cluster_lease_keepalives_sent_total 0',
      'holdfast_cluster_fences_total 0',
      'holdfast_cluster_owners_killed_total 0',
      'holdfast_cluster_kill_failures_total 0',
    ]) {
      assert.ok(run.stdout.split('\n').includes(line), `missing: ${line}`);
    }
    assert.ok(run.stdout.endsWith('# EOF\n'));
  });
});

describe('holdfast cluster on a host without a cluster', () => {
  let dir: string;
  let daemon: HoldfastHandle;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'holdfast-no-cluster-cli-'));
    daemon = await startHoldfast({ dir });
  });

  after(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('one line on stderr, exit 1; --json says configured: false', async () => {
    const table = await holdfast(dir, 'cluster');
    assert.equal(table.code, 1);
    assert.equal(table.stdout, '');
    assert.equal(table.stderr, `holdfast: ${NO_CLUSTER}\n`);
    const json = await holdfast(dir, '--json', 'cluster');
    assert.equal(json.code, 1);
    assert.deepEqual(JSON.parse(json.stdout), { configured: false });
  });

  test('no cluster part in status, no holdfast_cluster_* metrics', async () => {
    const status = JSON.parse((await holdfast(dir, '--json', 'status')).stdout) as StatusReply;
    assert.equal(status.supervisor?.cluster, undefined);
    assert.doesNotMatch((await holdfast(dir, 'status')).stdout, /^cluster:/m);
    const metrics = await holdfast(dir, 'metrics');
    assert.equal(metrics.code, 0, metrics.stderr);
    assert.doesNotMatch(metrics.stdout, /holdfast_cluster_/);
  });
});
