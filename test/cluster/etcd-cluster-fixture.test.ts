// The etcd cluster the cluster tests run against: it serves, survives the loss of its leader, and keeps its
// data across a full stop and restart (the tests of the host lease lean on all three).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { startEtcdCluster, type EtcdCluster } from '../fixtures/etcd-cluster';

let cluster: EtcdCluster;
before(async () => {
  cluster = await startEtcdCluster();
});
after(async () => {
  await cluster?.close();
});

/** A client of one member only, with a deadline on every call, so a dead member fails the call quickly. */
function clientOf(endpoint: string): Etcd3 {
  return new Etcd3({ hosts: [endpoint], defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 2_000 }) });
}

test('three members on loopback, none on the system etcd ports; a put through one is read through every other', async () => {
  assert.equal(cluster.members.length, 3);
  for (const url of cluster.endpoints) assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  for (const url of [...cluster.endpoints, ...cluster.members.map((m) => m.peerUrl)]) {
    assert.ok(!/:(2379|2380)$/.test(url), `${url} is a system etcd port`);
  }
  const writer = clientOf(cluster.endpoints[0]!);
  try {
    await writer.put('fixture/a').value('one');
  } finally {
    writer.close();
  }
  for (const url of cluster.endpoints) {
    const reader = clientOf(url);
    try {
      assert.equal(await reader.get('fixture/a').string(), 'one', `read through ${url}`);
    } finally {
      reader.close();
    }
  }
});

test('with the leader SIGKILLed the other two elect a leader and serve; the member rejoins on restart', async () => {
  const leader = await cluster.leaderIndex();
  await cluster.kill(leader);
  assert.equal(cluster.members[leader]!.pid, null);
  const survivors = [0, 1, 2].filter((i) => i !== leader);
  const next = await cluster.leaderIndex();
  assert.ok(survivors.includes(next), `leader ${next} after killing ${leader}`);
  for (const i of survivors) {
    const client = clientOf(cluster.endpoints[i]!);
    try {
      await client.put(`fixture/after-kill-${i}`).value('x');
      assert.equal(await client.get(`fixture/after-kill-${i}`).string(), 'x');
    } finally {
      client.close();
    }
  }
  await cluster.startAll();
  assert.ok(cluster.members.every((m) => m.pid !== null));
});

test('stopAll then startAll keeps the data (same data dirs and ports)', async () => {
  const client = clientOf(cluster.endpoints[1]!);
  try {
    await client.put('fixture/durable').value('kept');
  } finally {
    client.close();
  }
  await cluster.stopAll();
  assert.ok(cluster.members.every((m) => m.pid === null));
  const down = clientOf(cluster.endpoints[0]!);
  try {
    await assert.rejects(down.get('fixture/durable').string(), 'a stopped cluster does not answer');
  } finally {
    down.close();
  }
  await cluster.startAll();
  const reader = clientOf(cluster.endpoints[2]!);
  try {
    assert.equal(await reader.get('fixture/durable').string(), 'kept');
  } finally {
    reader.close();
  }
});
