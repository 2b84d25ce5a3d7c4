// The supervisor's custody bookkeeping on real fds: what a commit entry does to records and fds (put,
// replace, drop, join/leave), that each fd it held is closed exactly once, how it consumes answered
// requests from a real client socket, and the replies it writes itself.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import type { CommitEntry, CustodyOp } from '../../src/shared/custody/messages';
import { clientKey, type ClientRecord } from '../../src/shared/custody/records/client-record';
import { resourceKey, type ResourceRecord } from '../../src/shared/custody/records/resource-record';
import * as native from '../../src/shared/platform/native';
import { Custody, type CustodyEntry, type ResourceObserver } from '../../src/supervisor/custody';
import { calledOnce, waitFor, within } from '../fixtures/deadline';
import { unixConnection } from '../fixtures/unix-connection';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'holdfast-custody-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CLIENT_ID = 7;
const CLIENT = clientKey('virtlockd', CLIENT_ID);
const DISK = resourceKey('', '/var/lib/disk.img');

function clientRecord(): ClientRecord {
  return { kind: 'client', server: 'virtlockd', id: CLIENT_ID, connectedAt: 1, peer: { pid: 4242, uid: 0, gid: 0 }, restricted: false, owner: null, registeredAt: 0 };
}

function diskRecord(owners: number[] = [100]): ResourceRecord {
  return { kind: 'resource', lockspace: '', name: '/var/lib/disk.img', path: '/var/lib/disk.img', flags: 0, owners, acquiredAt: 1, lockKind: 'ofd' };
}

let seq = 0;
function entry(ops: CustodyOp[], extra: Partial<CommitEntry> = {}): CommitEntry {
  return { seq: ++seq, ops, reply: null, ack: false, ...extra };
}

/** Applies one entry the way the supervisor does; returns which of `fds` custody kept. */
function apply(custody: Custody, e: CommitEntry, fds: number[] = [], done: () => void = () => undefined): Set<number> {
  const used = new Set<number>();
  custody.apply(e, fds, used, done);
  return used;
}

/** A pipe whose write end is handed to custody: the read end sees EOF exactly when that fd is closed. */
function watchedFd(): { fd: number; closed: () => boolean; release: () => void } {
  const { read, write } = native.pipe(4096);
  return {
    fd: write,
    closed: () => native.read(read, Buffer.alloc(1), 0, 1) === 0,
    release: () => native.close(read),
  };
}

/** Takes fds until one gets `number` (the lowest free number comes first), closes the others. */
function occupy(number: number): number {
  const extra: number[] = [];
  try {
    for (let i = 0; i < 64; i++) {
      const fd = native.dupCloexec(0);
      if (fd === number) return fd;
      extra.push(fd);
    }
    throw new Error(`fd ${number} was not handed out again`);
  } finally {
    extra.forEach((fd) => native.close(fd));
  }
}

test('a put with an fd makes the fd custody\'s; fds the entry does not name stay the caller\'s', () => {
  const custody = new Custody(log);
  const held = watchedFd();
  const spare = watchedFd();
  try {
    const used = apply(custody, entry([{ op: 'put', record: diskRecord(), fdIndex: 1 }]), [spare.fd, held.fd]);
    assert.deepEqual([...used], [held.fd]);
    assert.deepEqual(custody.get(DISK), { record: diskRecord(), fd: held.fd });
    assert.equal(custody.size, 1);
    assert.equal(custody.count('resource'), 1);
    assert.equal(held.closed(), false);
    assert.equal(spare.closed(), false, 'custody never closes an fd it did not take');
    custody.closeAll();
    assert.equal(held.closed(), true);
    assert.equal(spare.closed(), false);
  } finally {
    native.close(spare.fd);
    held.release();
    spare.release();
  }
});

test('replacing a record with a new fd closes the old one; replacing it without one keeps the fd', () => {
  const custody = new Custody(log);
  const first = watchedFd();
  const second = watchedFd();
  try {
    apply(custody, entry([{ op: 'put', record: diskRecord([100]), fdIndex: 0 }]), [first.fd]);
    apply(custody, entry([{ op: 'put', record: diskRecord([100, 101]), fdIndex: 0 }]), [second.fd]);
    assert.equal(first.closed(), true, 'the replaced fd is closed');
    assert.equal(custody.get(DISK)?.fd, second.fd);

    apply(custody, entry([{ op: 'put', record: diskRecord([101]), fdIndex: null }]));
    assert.deepEqual(custody.get(DISK), { record: diskRecord([101]), fd: second.fd }, 'new data, same fd');
    assert.equal(second.closed(), false);
    custody.closeAll();
    assert.equal(second.closed(), true);
  } finally {
    first.release();
    second.release();
  }
});

test('a dropped record\'s fd is closed exactly once, however often the key is dropped again', () => {
  const custody = new Custody(log);
  const held = watchedFd();
  try {
    apply(custody, entry([{ op: 'put', record: diskRecord(), fdIndex: 0 }]), [held.fd]);
    apply(custody, entry([{ op: 'drop', key: DISK }]));
    assert.equal(held.closed(), true);
    assert.equal(custody.has(DISK), false);

    // The number is free again: whoever gets it next must keep it through every later drop and closeAll.
    const reused = occupy(held.fd);
    try {
      apply(custody, entry([{ op: 'drop', key: DISK }]));
      custody.closeAll();
      assert.equal(native.getCloexec(reused), true, 'the reused fd is still open');
    } finally {
      native.close(reused);
    }
  } finally {
    held.release();
  }
});

test('a commit naming an fd it does not carry, or one fd twice, is refused', () => {
  const custody = new Custody(log);
  const held = watchedFd();
  try {
    assert.throws(() => apply(custody, entry([{ op: 'put', record: diskRecord(), fdIndex: 3 }]), [held.fd]), /names fd index 3 it does not carry/);
    const twice = entry([
      { op: 'put', record: diskRecord(), fdIndex: 0 },
      { op: 'put', record: { kind: 'resource', lockspace: '', name: 'other', path: 'other', flags: 0, owners: [1], acquiredAt: 1, lockKind: 'ofd' }, fdIndex: 0 },
    ]);
    assert.throws(() => apply(custody, twice, [held.fd]), /names fd index 0 it does not carry/);
    custody.closeAll();
  } finally {
    held.release();
  }
});

test('join and leave change one ownership in place and tell the observer; unknown keys and owners are refused', () => {
  const custody = new Custody(log);
  const puts: Array<{ key: string; fdChanged: boolean; joined: number | null | undefined; owners: number[] }> = [];
  const dropped: string[] = [];
  const observer: ResourceObserver = {
    put: (key: string, e: CustodyEntry, fdChanged: boolean, joined?: number | null) => {
      puts.push({ key, fdChanged, joined, owners: [...(e.record as ResourceRecord).owners] });
    },
    dropped: (key: string) => dropped.push(key),
  };
  custody.observeResources(observer);
  const held = watchedFd();
  try {
    apply(custody, entry([{ op: 'put', record: diskRecord([100]), fdIndex: 0 }]), [held.fd]);
    const before = custody.get(DISK);
    apply(custody, entry([{ op: 'join', key: DISK, pid: 101 }]));
    apply(custody, entry([{ op: 'join', key: DISK, pid: 100 }]));
    apply(custody, entry([{ op: 'leave', key: DISK, pid: 100 }]));
    assert.deepEqual((custody.get(DISK)?.record as ResourceRecord).owners, [101, 100], 'one occurrence of 100 left');
    assert.notEqual(custody.get(DISK), before, 'a new entry object, so snapshot deltas see the change');
    assert.equal(custody.get(DISK)?.fd, held.fd);

    assert.throws(() => apply(custody, entry([{ op: 'leave', key: DISK, pid: 999 }])), /removes owner 999/);
    assert.throws(() => apply(custody, entry([{ op: 'join', key: resourceKey('', 'nothing'), pid: 1 }])), /holds no resource/);

    apply(custody, entry([{ op: 'put', record: clientRecord(), fdIndex: null }]));
    apply(custody, entry([{ op: 'drop', key: DISK }]));
    assert.deepEqual(puts, [
      { key: DISK, fdChanged: true, joined: undefined, owners: [100] },
      { key: DISK, fdChanged: false, joined: 101, owners: [100, 101] },
      { key: DISK, fdChanged: false, joined: 100, owners: [100, 101, 100] },
      { key: DISK, fdChanged: false, joined: null, owners: [101, 100] },
    ], 'resource changes only; a client record is not the fd store\'s business');
    assert.deepEqual(dropped, [DISK]);
  } finally {
    custody.closeAll();
    held.release();
  }
});

test('answered requests are consumed from the client socket in bulk, and all of them before an ack', async () => {
  const custody = new Custody(log);
  const conn = await unixConnection(dir);
  try {
    apply(custody, entry([{ op: 'put', record: clientRecord(), fdIndex: 0 }]), [conn.fd]);
    conn.peer.write(Buffer.alloc(30, 1));
    await waitFor(() => native.queuedIn(conn.fd) === 30, 5_000, '30 request bytes queued');
    assert.equal(custody.hasUnansweredInput(), true, 'nothing answered yet');
    assert.deepEqual(custody.clientsWithUnansweredInput(), [CLIENT]);

    for (let i = 0; i < 3; i++) apply(custody, entry([], { reply: { client: CLIENT, consume: 10, piped: 0, data: '' } }));
    assert.equal(native.queuedIn(conn.fd), 30, 'consuming waits for a bulk');
    assert.equal(custody.hasUnansweredInput(), false, 'owed bytes are answered ones');

    conn.peer.write(Buffer.alloc(5, 2));
    await waitFor(() => native.queuedIn(conn.fd) === 35, 5_000, 'a partial next request');
    assert.equal(custody.hasUnansweredInput(), true, 'the partial request is unanswered');

    apply(custody, entry([], { ack: true }));
    assert.equal(native.queuedIn(conn.fd), 5, 'an ack settles every debt first');
    const left = Buffer.alloc(8);
    assert.equal(native.recv(conn.fd, left, 0, 8, false), 5);
    assert.deepEqual(left.subarray(0, 5), Buffer.alloc(5, 2), 'exactly the answered bytes went');
  } finally {
    custody.closeAll();
    conn.close();
  }
});

test('32 answered requests are consumed without waiting for an ack', async () => {
  const custody = new Custody(log);
  const conn = await unixConnection(dir);
  try {
    apply(custody, entry([{ op: 'put', record: clientRecord(), fdIndex: 0 }]), [conn.fd]);
    conn.peer.write(Buffer.alloc(40, 1));
    await waitFor(() => native.queuedIn(conn.fd) === 40, 5_000, '40 request bytes queued');
    for (let i = 0; i < 31; i++) apply(custody, entry([], { reply: { client: CLIENT, consume: 1, piped: 0, data: '' } }));
    assert.equal(native.queuedIn(conn.fd), 40);
    apply(custody, entry([], { reply: { client: CLIENT, consume: 1, piped: 0, data: '' } }));
    assert.equal(native.queuedIn(conn.fd), 8);
  } finally {
    custody.closeAll();
    conn.close();
  }
});

test('an inline reply is written to the client in order, each done called exactly once', async () => {
  const custody = new Custody(log);
  const conn = await unixConnection(dir);
  try {
    apply(custody, entry([{ op: 'put', record: clientRecord(), fdIndex: 0 }]), [conn.fd]);
    const first = calledOnce('first reply done');
    const second = calledOnce('second reply done');
    apply(custody, entry([], { reply: { client: CLIENT, consume: 0, piped: 0, data: Buffer.from('one,').toString('base64') } }), [], first);
    apply(custody, entry([], { reply: { client: CLIENT, consume: 0, piped: 0, data: Buffer.from('two').toString('base64') } }), [], second);
    assert.equal(custody.writeUnsentReply(CLIENT, Buffer.from(',three')), true);
    await waitFor(() => conn.received().toString() === 'one,two,three', 5_000, () => `the replies (got ${JSON.stringify(conn.received().toString())})`);
    first.assertOnce();
    second.assertOnce();
    assert.equal(custody.hasQueuedReplies(), false);
  } finally {
    custody.closeAll();
    conn.close();
  }
});

test('a reply for a client that is gone, or never filed, completes at once and writes nothing', async () => {
  const custody = new Custody(log);
  const conn = await unixConnection(dir);
  try {
    apply(custody, entry([{ op: 'put', record: clientRecord(), fdIndex: 0 }]), [conn.fd]);
    const droppedInSameCommit = calledOnce('reply to a client dropped by the same commit');
    apply(custody, entry([{ op: 'drop', key: CLIENT }], { reply: { client: CLIENT, consume: 4, piped: 0, data: Buffer.from('lost').toString('base64') } }), [], droppedInSameCommit);
    droppedInSameCommit.assertOnce();
    const neverFiled = calledOnce('reply to a client never filed');
    apply(custody, entry([], { reply: { client: clientKey('virtlockd', 99), consume: 0, piped: 0, data: Buffer.from('x').toString('base64') } }), [], neverFiled);
    neverFiled.assertOnce();
    assert.equal(custody.writeUnsentReply(CLIENT, Buffer.from('late')), false);
    // The drop closed custody's (only) fd of the connection: the client sees the end, and no bytes before it.
    await within(5_000, 'the client to see its connection end', new Promise((resolve) => conn.peer.once('close', resolve)));
    assert.equal(conn.received().length, 0);
  } finally {
    custody.closeAll();
    conn.close();
  }
});

test('replies queued for a client that does not read are completed (each once) when the client is dropped', async () => {
  const custody = new Custody(log);
  const conn = await unixConnection(dir);
  try {
    conn.peer.pause();
    apply(custody, entry([{ op: 'put', record: clientRecord(), fdIndex: 0 }]), [conn.fd]);
    const big = Buffer.alloc(4 * 1024 * 1024, 7).toString('base64');
    const done = calledOnce('the big reply done');
    apply(custody, entry([], { reply: { client: CLIENT, consume: 0, piped: 0, data: big } }), [], done);
    assert.equal(custody.hasQueuedReplies(), true, 'more than the socket takes at once');
    assert.equal(done.calls, 0);
    apply(custody, entry([{ op: 'drop', key: CLIENT }]));
    done.assertOnce();
    assert.equal(custody.hasQueuedReplies(), false);
  } finally {
    custody.closeAll();
    conn.close();
  }
});
