// LockClient against a tiny in-test server on a real unix socket: frames sent, serials, one call
// in flight, error replies, raw access, and what callers see when the connection goes away.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONNECTION_CLOSED,
  ConnectionClosedError,
  LockClient,
  LockError,
  ProtocolError,
  bytesToUuid,
  uuidToBytes,
} from '../../src/client/index';
import { FrameError, FrameReader } from '../../src/client/frame-reader';
import { AcquireFlags, LOCK_PROGRAM, LockProcedure, lookupProcedure } from '../../src/shared/protocol/lock-program';
import {
  MessageStatus,
  MessageType,
  decodeMessage,
  encodeMessage,
  replyHeader,
  type Message,
} from '../../src/shared/protocol/message';
import { VirError, VirErrorCode, VirErrorDomain } from '../../src/shared/protocol/vir-error';

const dir = mkdtempSync(join(tmpdir(), 'holdfast-lock-client-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let socketCount = 0;

/** What the server does with a received frame: reply bytes, or nothing. */
type Handler = (msg: Message, conn: net.Socket) => Buffer | null;

interface FakeDaemon {
  path: string;
  /** Every frame received, in order, decoded. */
  received: Message[];
  /** Number of replies written so far. */
  replied: number;
  /** Frames that arrived while an earlier one was still unanswered. */
  overlapping: number;
  /** Connections seen, for tests that watch them close. */
  connections: net.Socket[];
  close(): Promise<void>;
}

const ok = (msg: Message): Buffer => encodeMessage(replyHeader(msg.header, MessageStatus.OK));
const fail = (msg: Message, err: VirError): Buffer =>
  encodeMessage(replyHeader(msg.header, MessageStatus.ERROR), err.encode());

/** A server speaking libvirt framing; replies come from `handler` (default: OK to everything). */
async function startDaemon(handler: Handler = ok): Promise<FakeDaemon> {
  const path = join(dir, `sock-${socketCount++}`);
  const daemon: FakeDaemon = {
    path,
    received: [],
    replied: 0,
    overlapping: 0,
    connections: [],
    close: () => new Promise((resolve) => {
      for (const c of daemon.connections) c.destroy();
      server.close(() => resolve());
    }),
  };
  const server = net.createServer((conn) => {
    daemon.connections.push(conn);
    const reader = new FrameReader();
    conn.on('error', () => {});
    conn.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (let frame = reader.next(); frame !== null; frame = reader.next()) {
        const msg = decodeMessage(Buffer.from(frame));
        if (daemon.received.length > daemon.replied) daemon.overlapping++;
        daemon.received.push(msg);
        const reply = handler(msg, conn);
        if (reply && !conn.destroyed) {
          daemon.replied++;
          conn.write(reply);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return daemon;
}

const OWNER = { uuid: '00112233-4455-6677-8899-aabbccddeeff', name: 'vm1', id: 1, pid: 1234 };

test('typed methods send the lock program calls with serials 0, 1, 2, ...', async () => {
  const daemon = await startDaemon();
  const client = await LockClient.connect(daemon.path);
  assert.equal(await client.register(OWNER), undefined);
  await client.restrict();
  await client.newLockspace('/ls');
  await client.createResource('/ls', 'a');
  await client.deleteResource('/ls', 'b');
  await client.acquire('/ls', 'c', AcquireFlags.SHARED);
  await client.release('/ls', 'd');
  await client.createLockspace('/other');
  await client.close();
  await daemon.close();

  assert.deepEqual(daemon.received.map((m) => [m.header.proc, m.header.serial]),
    [[1, 0], [2, 1], [3, 2], [4, 3], [5, 4], [6, 5], [7, 6], [8, 7]]);
  for (const { header } of daemon.received) {
    assert.deepEqual([header.prog, header.vers, header.type, header.status], [LOCK_PROGRAM, 1, MessageType.CALL, MessageStatus.OK]);
  }
  const args = daemon.received.map((m) => lookupProcedure(m.header.proc)!.decode(m.payload) as unknown as Record<string, unknown>);
  const owner = args[0]!.owner as { uuid: Buffer; name: string; id: number; pid: number };
  assert.equal(bytesToUuid(owner.uuid), OWNER.uuid);
  assert.deepEqual([owner.name, owner.id, owner.pid], ['vm1', 1, 1234]);
  assert.equal(args[2]!.path, '/ls');
  assert.deepEqual([args[3]!.name, args[4]!.name, args[5]!.name, args[5]!.flags, args[6]!.name], ['a', 'b', 'c', 1, 'd']);
  assert.equal(args[7]!.path, '/other');
});

test('an ERROR reply rejects with LockError carrying the decoded VirError; the connection stays usable', async () => {
  const busy = VirError.resourceBusy("Lockspace resource 'r' is locked");
  const daemon = await startDaemon((msg) => (msg.header.proc === LockProcedure.ACQUIRE_RESOURCE ? fail(msg, busy) : ok(msg)));
  const client = await LockClient.connect(daemon.path);
  await client.register(OWNER);
  await assert.rejects(client.acquire('', '/disk'), (err: unknown) => {
    assert.ok(err instanceof LockError);
    assert.equal(err.code, VirErrorCode.RESOURCE_BUSY);
    assert.equal(err.domain, VirErrorDomain.LOCKSPACE);
    assert.equal(err.message, "resource busy: Lockspace resource 'r' is locked");
    assert.equal(err.proc, LockProcedure.ACQUIRE_RESOURCE);
    assert.deepEqual(err.virError.toJSON(), busy.toJSON());
    return true;
  });
  await client.release('', '/disk');
  await client.close();
  await daemon.close();
});

test('only one call is on the wire at a time; queued calls follow in order', async () => {
  const daemon = await startDaemon();
  const client = await LockClient.connect(daemon.path);
  const frameSize = 28 + 4; // RESTRICT: header + one u32
  const results = [client.restrict(), client.restrict(), client.restrict(), client.restrict()];
  // Nothing beyond the first call has been handed to the socket yet.
  assert.equal(client.socket.bytesWritten, frameSize);
  await Promise.all(results);
  assert.equal(client.socket.bytesWritten, 4 * frameSize);
  assert.deepEqual(daemon.received.map((m) => m.header.serial), [0, 1, 2, 3]);
  assert.equal(daemon.overlapping, 0, 'no call arrived before the previous one was answered');
  await client.close();
  await daemon.close();
});

test('call() sends any procedure, program or version and returns the raw reply', async () => {
  const daemon = await startDaemon((msg) => {
    if (msg.header.prog !== LOCK_PROGRAM) {
      return fail(msg, VirError.rpcError(`Cannot find program ${msg.header.prog} version ${msg.header.vers}`));
    }
    if (!lookupProcedure(msg.header.proc)) return fail(msg, VirError.rpcError(`unknown procedure: ${msg.header.proc}`));
    return ok(msg);
  });
  const client = await LockClient.connect(daemon.path);
  const unknown = await client.call(99);
  assert.equal(unknown.header.status, MessageStatus.ERROR);
  assert.equal(VirError.decode(unknown.payload).message, 'unknown procedure: 99');
  const foreign = await client.call(1, Buffer.alloc(0), { prog: 1234, vers: 7 });
  assert.deepEqual([foreign.header.prog, foreign.header.vers, foreign.header.serial], [1234, 7, 1]);
  assert.equal(VirError.decode(foreign.payload).message, 'Cannot find program 1234 version 7');
  const custom = await client.call(LockProcedure.RESTRICT, Buffer.alloc(4), { serial: 77 });
  assert.equal(custom.header.serial, 77);
  assert.equal(client.nextSerial, 3, 'an explicit serial still consumes one');
  assert.deepEqual(daemon.received.at(-1)!.header, {
    prog: LOCK_PROGRAM, vers: 1, proc: 2, type: MessageType.CALL, serial: 77, status: MessageStatus.OK,
  });
  await client.close();
  await daemon.close();
});

test('sendRaw writes bytes verbatim; waitReply collects the reply they provoke', async () => {
  const daemon = await startDaemon();
  const client = await LockClient.connect(daemon.path);
  const frame = encodeMessage({ prog: LOCK_PROGRAM, vers: 1, proc: 2, type: 0, serial: 500, status: 0 }, Buffer.alloc(4));
  // Split in two writes: the server must reassemble them.
  const pending = client.waitReply();
  await client.sendRaw(frame.subarray(0, 10));
  await client.sendRaw(frame.subarray(10));
  const reply = await pending;
  assert.deepEqual([reply.header.type, reply.header.serial, reply.header.status], [MessageType.REPLY, 500, MessageStatus.OK]);
  // A reply that arrives before anyone waits is kept for the next waitReply.
  await client.sendRaw(frame);
  await new Promise<void>((resolve) => {
    const poll = (): void => (daemon.replied === 2 ? resolve() : void setImmediate(poll));
    poll();
  });
  assert.equal((await client.waitReply()).header.serial, 500);
  await client.restrict(); // typed calls still work afterwards
  await client.close();
  await daemon.close();
});

test('when the server drops the connection, pending and later calls reject and closed resolves', async () => {
  const daemon = await startDaemon((msg, conn) => {
    if (msg.header.proc === LockProcedure.ACQUIRE_RESOURCE) {
      conn.destroy();
      return null;
    }
    return ok(msg);
  });
  const client = await LockClient.connect(daemon.path);
  let closeEvents = 0;
  client.on('close', () => closeEvents++);
  await client.register(OWNER);
  const pending = client.acquire('', '/disk');
  const queued = client.restrict();
  const waiting = client.waitReply();
  const isClosedError = (err: unknown): boolean =>
    err instanceof ConnectionClosedError && ['ECONNRESET', 'EPIPE', CONNECTION_CLOSED].includes(err.code);
  await assert.rejects(pending, isClosedError);
  await assert.rejects(queued, isClosedError);
  await assert.rejects(waiting, isClosedError);
  await client.closed;
  assert.equal(client.isClosed, true);
  assert.equal(closeEvents, 1);
  await assert.rejects(client.release('', '/disk'), isClosedError);
  await assert.rejects(client.sendRaw(Buffer.alloc(4)), isClosedError);
  await assert.rejects(client.waitReply(), isClosedError);
  await daemon.close();
});

test('close() flushes, closes, and is idempotent; the server sees end of stream', async () => {
  const daemon = await startDaemon();
  const client = await LockClient.connect(daemon.path);
  await client.register(OWNER);
  const serverSide = new Promise<void>((resolve) => daemon.connections[0]!.once('end', resolve));
  await client.close();
  await serverSide;
  await client.close();
  await assert.rejects(client.restrict(), ConnectionClosedError);
  await daemon.close();
});

test('a reply with the wrong serial or type is a ProtocolError', async () => {
  const daemon = await startDaemon((msg) =>
    encodeMessage({ ...replyHeader(msg.header, MessageStatus.OK), serial: msg.header.serial + 1 }));
  const client = await LockClient.connect(daemon.path);
  await assert.rejects(client.restrict(), (err: unknown) =>
    err instanceof ProtocolError && err.reply?.header.serial === 1 && /serial 0/.test(err.message));
  await client.destroy();
  await daemon.close();

  const odd = await startDaemon((msg) => encodeMessage(replyHeader(msg.header, MessageStatus.CONTINUE)));
  const second = await LockClient.connect(odd.path);
  await assert.rejects(second.restrict(), /unexpected status 2/);
  await second.close();
  await odd.close();
});

test('a reply with an impossible length word fails the connection with FrameError', async () => {
  const daemon = await startDaemon(() => Buffer.from('00000005deadbeef00', 'hex'));
  const client = await LockClient.connect(daemon.path);
  await assert.rejects(client.restrict(), (err: unknown) => err instanceof FrameError && err.length === 5);
  await client.closed;
  await assert.rejects(client.restrict(), FrameError);
  await daemon.close();
});

test('connect() rejects with the socket error', async () => {
  await assert.rejects(LockClient.connect(join(dir, 'nobody-listens')), { code: 'ENOENT' });
  const aborted = new AbortController();
  aborted.abort();
  await assert.rejects(LockClient.connect(join(dir, 'nobody-listens'), { signal: aborted.signal }), { name: 'AbortError' });
});

test('fromSocket wraps a connected stream', async () => {
  const daemon = await startDaemon();
  const socket = net.createConnection(daemon.path);
  await new Promise((resolve) => socket.once('connect', resolve));
  const client = LockClient.fromSocket(socket);
  await client.restrict();
  assert.equal(client.socket, socket);
  await client.close();
  await daemon.close();
});

test('bad arguments reject instead of throwing', async () => {
  const daemon = await startDaemon();
  const client = await LockClient.connect(daemon.path);
  const bad = client.register({ ...OWNER, uuid: 'not-a-uuid' });
  assert.ok(bad instanceof Promise);
  await assert.rejects(bad, TypeError);
  await assert.rejects(client.register({ ...OWNER, uuid: Buffer.alloc(3) }), RangeError);
  await assert.rejects(client.acquire('', 'x', -1), RangeError);
  assert.equal(daemon.received.length, 0);
  assert.equal(client.nextSerial, 0, 'nothing was sent, no serial used');
  await client.close();
  await daemon.close();
});

test('uuid helpers', () => {
  const bytes = uuidToBytes('00112233-4455-6677-8899-AABBCCDDEEFF');
  assert.deepEqual(bytes, Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
  assert.deepEqual(uuidToBytes('00112233445566778899aabbccddeeff'), bytes);
  assert.equal(bytesToUuid(bytes), '00112233-4455-6677-8899-aabbccddeeff');
  for (const bad of ['', '0011', '00112233-4455-6677-8899-aabbccddeeffaa', 'g0112233-4455-6677-8899-aabbccddeeff']) {
    assert.throws(() => uuidToBytes(bad), TypeError, bad);
  }
  assert.throws(() => bytesToUuid(Buffer.alloc(15)), TypeError);
});
