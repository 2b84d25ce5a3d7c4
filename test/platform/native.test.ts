// The native addon on the real kernel: locks probed from other processes, fds passed for real, real
// sockets, real children and a real execve. Fixtures live in test/fixtures/native-*.ts.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import {
  accept,
  bindUnixDatagram,
  close,
  dupCloexec,
  execve,
  getCloexec,
  listenUnix,
  MAX_FDS_PER_MESSAGE,
  notifySend,
  ofdGetLock,
  ofdTryLock,
  ofdUnlock,
  peerCred,
  pidfdOpen,
  POLL_READABLE,
  POLL_WRITABLE,
  Poller,
  posixGetLock,
  posixTryLock,
  posixUnlock,
  recv,
  recvWithFds,
  send,
  sendWithFds,
  setCloexec,
  setNonblock,
  socketpairSeqpacket,
  SyscallError,
  waitpid,
} from '../../src/shared/platform/native';
import * as native from '../../src/shared/platform/native';
import { within } from '../fixtures/deadline';

// Bounds on waits that should end at once: a Poller event that is due, a fixture child's run.
const POLLER_EVENT_DEADLINE_MS = 5_000;
const CHILD_DEADLINE_MS = 30_000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-native-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
let counter = 0;

// A failed assertion must not leave a child holding the loop open: kill whatever is left at the end.
const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function tempFile(): string {
  const file = path.join(dir, `file-${counter++}`);
  fs.writeFileSync(file, 'disk image stand-in');
  return file;
}

function fixture(name: string): string {
  return path.join(__dirname, '..', 'fixtures', `${name}.js`);
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

async function runFixture(name: string, args: string[]): Promise<Finished> {
  const child = track(spawn(process.execPath, [fixture(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code, signal] = (await within(CHILD_DEADLINE_MS, `fixture ${name} to finish`, once(child, 'close'))) as [number | null, NodeJS.Signals | null];
  return { code, signal, stdout, stderr };
}

interface ProbeResult {
  locked: boolean;
  holder: { type: string; start: number; len: number; pid: number } | null;
  pid: number;
}

/** Another process tries the lock on byte 0 and gives it up again by exiting. */
async function probe(file: string, kind: 'ofd' | 'posix', type: 'read' | 'write'): Promise<ProbeResult> {
  const result = await runFixture('native-lock-probe', [file, kind, type]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as ProbeResult;
}

async function firstLine(child: ChildProcess): Promise<string> {
  assert.ok(child.stdout);
  const lines = createInterface({ input: child.stdout });
  const [line] = (await within(CHILD_DEADLINE_MS, 'a first line from the child', once(lines, 'line'))) as [string];
  lines.close();
  return line;
}

/** Resolves with the events of the first callback of a fresh Poller on `fd`, then closes the Poller. */
function nextEvent(fd: number, events = POLL_READABLE): Promise<number> {
  return within(POLLER_EVENT_DEADLINE_MS, `a Poller event on fd ${fd}`, new Promise((resolve, reject) => {
    const poller = new Poller(fd, (got, error) => {
      poller.close();
      if (error) reject(error);
      else resolve(got);
    });
    poller.start(events);
  }));
}

/** Returns after the event loop has run at least one poll phase from now (a witness pair turns readable). */
async function pollRound(witnessA: number, witnessB: number): Promise<void> {
  send(witnessA, Buffer.from('w'), 0, 1);
  await nextEvent(witnessB);
  recv(witnessB, Buffer.alloc(1), 0, 1, false);
  await new Promise((resolve) => setImmediate(resolve));
}

function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

function sameFile(a: number, b: number): boolean {
  const sa = fs.fstatSync(a);
  const sb = fs.fstatSync(b);
  return sa.dev === sb.dev && sa.ino === sb.ino;
}

function assertSyscallError(fn: () => unknown, code: string, syscall?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SyscallError, `expected SyscallError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.errno, os.constants.errno[code as keyof typeof os.constants.errno]);
    if (syscall !== undefined) assert.equal(error.syscall, syscall);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Locks

test('an OFD write lock blocks OFD and POSIX attempts from another process', async () => {
  const file = tempFile();
  const fd = fs.openSync(file, 'r+');
  assert.equal(ofdTryLock(fd, 'write', 0, 1), true);
  for (const kind of ['ofd', 'posix'] as const) {
    for (const type of ['read', 'write'] as const) {
      const result = await probe(file, kind, type);
      assert.equal(result.locked, false, `${kind} ${type}`);
      assert.deepEqual(result.holder, { type: 'write', start: 0, len: 1, pid: -1 }, `${kind} ${type}`);
    }
  }
  ofdUnlock(fd, 0, 1);
  assert.equal((await probe(file, 'ofd', 'write')).locked, true);
  fs.closeSync(fd);
});

test('shared read locks coexist; a writer is refused', async () => {
  const file = tempFile();
  const first = fs.openSync(file, 'r+');
  const second = fs.openSync(file, 'r+');
  const third = fs.openSync(file, 'r+');
  assert.equal(ofdTryLock(first, 'read', 0, 1), true);
  // Separate open file descriptions conflict (or not) even inside one process.
  assert.equal(ofdTryLock(second, 'read', 0, 1), true);
  assert.equal(ofdTryLock(third, 'write', 0, 1), false);
  assert.equal((await probe(file, 'ofd', 'read')).locked, true);
  assert.equal((await probe(file, 'posix', 'read')).locked, true);
  assert.equal((await probe(file, 'ofd', 'write')).locked, false);
  for (const fd of [first, second, third]) fs.closeSync(fd);
});

test('/proc/locks lists our lock as OFDLCK', () => {
  const file = tempFile();
  const fd = fs.openSync(file, 'r+');
  assert.equal(ofdTryLock(fd, 'write', 0, 1), true);
  const { ino } = fs.fstatSync(fd);
  const ours = fs
    .readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .filter((line) => new RegExp(`^\\d+: .* [0-9a-f]+:[0-9a-f]+:${ino} `).test(line));
  assert.equal(ours.length, 1, ours.join('\n'));
  assert.match(ours[0] ?? '', /^\d+: OFDLCK\s+ADVISORY\s+WRITE\s+-1\s+\S+\s+0\s+0$/);
  fs.closeSync(fd);
});

test('ofdGetLock reports a conflict from another open file description with pid -1, none from its own', () => {
  const file = tempFile();
  const holder = fs.openSync(file, 'r+');
  const other = fs.openSync(file, 'r+');
  assert.equal(ofdGetLock(other, 'read', 0, 1), null);
  assert.equal(ofdTryLock(holder, 'read', 0, 1), true);
  assert.equal(ofdGetLock(other, 'read', 0, 1), null, 'readers do not conflict');
  assert.deepEqual(ofdGetLock(other, 'write', 0, 1), { type: 'read', start: 0, len: 1, pid: -1 });
  assert.equal(ofdGetLock(holder, 'write', 0, 1), null, 'own description never conflicts');
  assert.equal(ofdGetLock(other, 'write', 1, 10), null, 'disjoint range');
  fs.closeSync(holder);
  assert.equal(ofdGetLock(other, 'write', 0, 1), null, 'closing the last fd released it');
  fs.closeSync(other);
});

test('flockExclusive: one open file description holds it (again and again); another is refused until it closes', () => {
  const file = tempFile();
  const holder = fs.openSync(file, 'r+');
  const other = fs.openSync(file, 'r+');
  assert.equal(native.flockExclusive(holder), true);
  assert.equal(native.flockExclusive(holder), true, 'its own description takes it again (an adopted pid file)');
  assert.equal(native.flockExclusive(other), false);
  const copy = native.dupCloexec(holder);
  fs.closeSync(holder);
  assert.equal(native.flockExclusive(other), false, 'a dup of the description still holds it');
  fs.closeSync(copy);
  assert.equal(native.flockExclusive(other), true, 'released with the last fd of the description');
  fs.closeSync(other);
  assert.throws(() => native.flockExclusive(other), { code: 'EBADF' });
});

test('a POSIX lock held by another process (virtlockd style) is seen with its pid and blocks OFD locks', async () => {
  const file = tempFile();
  const child = track(
    spawn(process.execPath, [fixture('native-lock-probe'), file, 'posix', 'write', 'hold'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const held = JSON.parse(await firstLine(child)) as ProbeResult;
  assert.equal(held.locked, true);
  const fd = fs.openSync(file, 'r+');
  const expected = { type: 'write', start: 0, len: 1, pid: child.pid };
  assert.deepEqual(posixGetLock(fd, 'read', 0, 1), expected);
  assert.deepEqual(ofdGetLock(fd, 'read', 0, 1), expected);
  assert.equal(ofdTryLock(fd, 'read', 0, 1), false);
  assert.equal(posixTryLock(fd, 'write', 0, 1), false);
  child.stdin?.end();
  await within(CHILD_DEADLINE_MS, 'the lock holder to exit', once(child, 'exit'));
  assert.equal(posixTryLock(fd, 'write', 0, 1), true, 'a POSIX lock dies with its process');
  assert.equal(posixGetLock(fd, 'write', 0, 1), null, 'own POSIX locks never conflict');
  posixUnlock(fd, 0, 1);
  assert.equal(ofdTryLock(fd, 'write', 0, 1), true);
  fs.closeSync(fd);
});

test('an OFD lock survives passing its fd and closing the original', async () => {
  const file = tempFile();
  const fd = fs.openSync(file, 'r+');
  assert.equal(ofdTryLock(fd, 'write', 0, 1), true);
  const [a, b] = socketpairSeqpacket();
  assert.equal(sendWithFds(a, Buffer.from('lock'), [fd]), 4);
  fs.closeSync(fd);
  const msg = recvWithFds(b, 64);
  assert.ok(msg);
  assert.equal(msg.data.toString(), 'lock');
  assert.equal(msg.truncated, false);
  assert.equal(msg.fds.length, 1);
  const [received] = msg.fds as [number];
  assert.equal(getCloexec(received), true, 'received fds are close-on-exec');
  assert.equal((await probe(file, 'ofd', 'read')).locked, false, 'still held through the passed fd');
  close(received);
  assert.equal((await probe(file, 'ofd', 'write')).locked, true, 'released with the last fd');
  close(a);
  close(b);
});

test('an OFD lock handed to another process outlives the sender giving up its fd', async () => {
  const file = tempFile();
  const fd = fs.openSync(file, 'r+');
  assert.equal(ofdTryLock(fd, 'write', 0, 1), true);
  const [a, b] = socketpairSeqpacket();
  const holder = track(
    spawn(process.execPath, [fixture('native-fd-holder')], { stdio: ['pipe', 'pipe', 'inherit', b] }),
  );
  close(b);
  assert.equal(sendWithFds(a, Buffer.from('custody'), [fd]), 7);
  const report = JSON.parse(await firstLine(holder)) as { data: string; count: number; cloexec: boolean[] };
  assert.deepEqual(report, { data: 'custody', count: 1, cloexec: [true] });
  fs.closeSync(fd);
  assert.equal((await probe(file, 'ofd', 'read')).locked, false, 'the holder process keeps it');
  holder.stdin?.end();
  await within(CHILD_DEADLINE_MS, 'the fd holder to exit', once(holder, 'exit'));
  assert.equal((await probe(file, 'ofd', 'write')).locked, true, 'gone with the holder');
  close(a);
});

// ---------------------------------------------------------------------------------------------------------
// Fd passing

test('recvWithFds: plain data, null when empty, EOF when the peer closes', () => {
  const [a, b] = socketpairSeqpacket();
  assert.equal(recvWithFds(b, 16), null);
  assert.equal(sendWithFds(a, Buffer.from('no fds'), []), 6);
  assert.deepEqual(recvWithFds(b, 16), { data: Buffer.from('no fds'), fds: [], truncated: false });
  close(a);
  assert.deepEqual(recvWithFds(b, 16), { data: Buffer.alloc(0), fds: [], truncated: false });
  close(b);
});

test('recvWithFds: a truncated message reports it and leaks none of its fds', () => {
  const file = tempFile();
  const fd = fs.openSync(file, 'r');
  const [a, b] = socketpairSeqpacket();
  assert.equal(sendWithFds(a, Buffer.from('0123456789'), [fd, fd]), 10);
  const before = openFdCount();
  const msg = recvWithFds(b, 4);
  assert.ok(msg);
  assert.equal(msg.truncated, true);
  assert.deepEqual(msg.fds, []);
  assert.equal(msg.data.toString(), '0123');
  assert.equal(openFdCount(), before);
  for (const f of [a, b, fd]) close(f);
});

test('sendWithFds carries 253 fds at once, not 254', () => {
  const file = tempFile();
  const fd = fs.openSync(file, 'r');
  const [a, b] = socketpairSeqpacket();
  const many = new Array<number>(MAX_FDS_PER_MESSAGE).fill(fd);
  assert.equal(sendWithFds(a, Buffer.alloc(0), many), 0);
  const msg = recvWithFds(b, 16);
  assert.ok(msg);
  assert.equal(msg.fds.length, 253);
  assert.equal(msg.data.length, 0);
  assert.ok(msg.fds.every((f) => getCloexec(f) && sameFile(f, fd)));
  for (const f of msg.fds) close(f);
  assert.throws(() => sendWithFds(a, Buffer.from('x'), [...many, fd]), RangeError);
  assert.throws(() => sendWithFds(a, Buffer.alloc(0), []), RangeError, 'would read as EOF');
  for (const f of [a, b, fd]) close(f);
});

test('send and sendWithFds return null once the socket buffer is full', () => {
  const [a, b] = socketpairSeqpacket();
  const chunk = Buffer.alloc(32 * 1024);
  let sent = 0;
  while (sendWithFds(a, chunk, []) !== null) sent++;
  assert.ok(sent > 0);
  assert.equal(send(a, chunk, 0, chunk.length), null);
  close(a);
  close(b);
});

// ---------------------------------------------------------------------------------------------------------
// Stream sockets

test('listenUnix + accept + peerCred name the connecting process', async () => {
  const sockPath = path.join(dir, 'peer.sock');
  const server = listenUnix(sockPath, 16);
  assert.equal(getCloexec(server), true);
  assert.equal(accept(server), null, 'nothing pending');
  const client = net.createConnection(sockPath);
  await within(CHILD_DEADLINE_MS, 'connect', once(client, 'connect'));
  const conn = accept(server);
  assert.ok(conn !== null);
  assert.equal(getCloexec(conn), true);
  assert.deepEqual(peerCred(conn), { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
  assert.equal(accept(server), null);
  assertSyscallError(() => listenUnix(sockPath, 16), 'EADDRINUSE', 'bind');
  client.destroy();
  close(conn);
  close(server);
});

test('recv (peek and not) and send round-trip; null on EAGAIN, 0 at EOF', async () => {
  const sockPath = path.join(dir, 'echo.sock');
  const server = listenUnix(sockPath, 16);
  const client = net.createConnection(sockPath);
  await within(CHILD_DEADLINE_MS, 'connect', once(client, 'connect'));
  const conn = accept(server);
  assert.ok(conn !== null);
  const buf = Buffer.alloc(64);
  assert.equal(recv(conn, buf, 0, buf.length, false), null);

  client.write('hello');
  assert.equal((await nextEvent(conn)) & POLL_READABLE, POLL_READABLE);
  assert.equal(recv(conn, buf, 10, 5, true), 5);
  assert.equal(buf.toString('utf8', 10, 15), 'hello');
  assert.equal(recv(conn, buf, 0, 3, false), 3, 'peek left the bytes queued');
  assert.equal(recv(conn, buf, 3, 61, false), 2);
  assert.equal(buf.toString('utf8', 0, 5), 'hello');
  assert.equal(recv(conn, buf, 0, buf.length, false), null);

  const reply = once(client, 'data');
  assert.equal(send(conn, Buffer.from('>>world<<'), 2, 5), 5);
  assert.equal(String((await reply)[0]), 'world');

  client.end();
  await nextEvent(conn);
  assert.equal(recv(conn, buf, 0, buf.length, false), 0);
  const clientClosed = once(client, 'close');
  close(conn);
  await clientClosed;
  close(server);
});

// ---------------------------------------------------------------------------------------------------------
// Notify datagrams

test('notifySend reaches a path datagram socket, with and without fds', () => {
  const address = path.join(dir, 'notify.sock');
  const rx = bindUnixDatagram(address);
  assert.equal(getCloexec(rx), true);
  notifySend(address, Buffer.from('READY=1'), []);
  assert.deepEqual(recvWithFds(rx, 4096), { data: Buffer.from('READY=1'), fds: [], truncated: false });

  const file = tempFile();
  const fd = fs.openSync(file, 'r');
  notifySend(address, Buffer.from('FDSTORE=1\nFDNAME=disk'), [fd]);
  const msg = recvWithFds(rx, 4096);
  assert.ok(msg);
  assert.equal(msg.data.toString(), 'FDSTORE=1\nFDNAME=disk');
  assert.equal(msg.fds.length, 1);
  const [received] = msg.fds as [number];
  assert.ok(sameFile(received, fd));
  assert.equal(getCloexec(received), true);
  assert.equal(recvWithFds(rx, 4096), null);
  for (const f of [received, fd, rx]) close(f);
  assertSyscallError(() => notifySend(path.join(dir, 'nobody.sock'), Buffer.from('x'), []), 'ENOENT', 'sendmsg');
});

test('notifySend reaches an abstract (@) datagram socket', () => {
  const address = `@holdfast-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const rx = bindUnixDatagram(address);
  assert.ok(
    fs.readFileSync('/proc/net/unix', 'utf8').includes(` ${address}\n`),
    'bound in the abstract namespace, exactly this long',
  );
  notifySend(address, Buffer.from('STATUS=abstract'), []);
  assert.deepEqual(recvWithFds(rx, 4096), { data: Buffer.from('STATUS=abstract'), fds: [], truncated: false });
  assertSyscallError(() => notifySend(`${address}-other`, Buffer.from('x'), []), 'ECONNREFUSED', 'sendmsg');
  close(rx);
});

// ---------------------------------------------------------------------------------------------------------
// Poller

test('Poller fires READABLE when data arrives, and never after stop() or close()', async () => {
  const [a, b] = socketpairSeqpacket();
  const [witnessA, witnessB] = socketpairSeqpacket();
  const seen: number[] = [];
  let wake: (() => void) | undefined;
  const poller = new Poller(b, (events, error) => {
    assert.equal(error, null);
    seen.push(events);
    wake?.();
  });
  assert.equal(Poller.READABLE, POLL_READABLE);
  assert.equal(Poller.WRITABLE, POLL_WRITABLE);

  const first = new Promise<void>((resolve) => (wake = resolve));
  poller.start(POLL_READABLE);
  assert.equal(poller.hasRef(), true);
  send(a, Buffer.from('1'), 0, 1);
  await within(POLLER_EVENT_DEADLINE_MS, 'READABLE', first);
  poller.stop();
  assert.deepEqual(seen, [POLL_READABLE]);

  // With data still queued, a witness fd becoming readable proves the loop polled; the stopped Poller must stay quiet.
  await pollRound(witnessA, witnessB);
  assert.deepEqual(seen, [POLL_READABLE]);

  const again = new Promise<void>((resolve) => (wake = resolve));
  poller.start(POLL_READABLE | POLL_WRITABLE);
  await within(POLLER_EVENT_DEADLINE_MS, 'READABLE | WRITABLE', again);
  assert.equal(seen.length, 2);
  assert.equal(seen[1], POLL_READABLE | POLL_WRITABLE);

  poller.close();
  poller.close(); // idempotent
  assert.equal(poller.hasRef(), false);
  const count = seen.length;
  await pollRound(witnessA, witnessB);
  assert.equal(seen.length, count);
  assert.throws(() => poller.start(POLL_READABLE), { code: 'ERR_POLLER_CLOSED' });
  poller.stop(); // harmless after close
  assert.equal(recvWithFds(b, 8)?.data.toString(), '1', 'the Poller never read or closed the fd');
  for (const f of [a, b, witnessA, witnessB]) close(f);
});

test('Poller ref/unref and its refusals', () => {
  const [a, b] = socketpairSeqpacket();
  const poller = new Poller(b, () => undefined);
  poller.start(POLL_READABLE);
  assert.equal(poller.unref().hasRef(), false);
  assert.equal(poller.ref().hasRef(), true);
  assertSyscallError(() => new Poller(b, () => undefined), 'EEXIST', 'uv_poll_init');
  assert.throws(() => poller.start(0), RangeError);
  assert.throws(() => poller.start(8), RangeError);
  poller.close();
  const file = tempFile();
  const regular = fs.openSync(file, 'r');
  assertSyscallError(() => new Poller(regular, () => undefined), 'EPERM', 'uv_poll_init');
  assert.throws(() => new Poller(a, 'nope' as never), TypeError);
  for (const f of [a, b, regular]) close(f);
});

test('Poller reports a socket error (POLLERR) as an error and stops', async () => {
  const [a, b] = socketpairSeqpacket();
  // Closing b with data still queued for it sets ECONNRESET on a, which epoll reports as POLLERR.
  send(a, Buffer.from('unread'), 0, 6);
  close(b);
  const calls: Array<[number, SyscallError | null]> = [];
  const poller = new Poller(a, (events, error) => calls.push([events, error]));
  const [witnessA, witnessB] = socketpairSeqpacket();
  poller.start(POLL_READABLE);
  await pollRound(witnessA, witnessB);
  await pollRound(witnessA, witnessB); // a second full poll phase after the error one
  assert.equal(calls.length, 1, 'stopped after the error');
  const [events, error] = calls[0] ?? [];
  assert.equal(events, 0);
  assert.ok(error instanceof SyscallError);
  assert.equal(error.syscall, 'uv_poll');
  assert.equal(error.code, 'EBADF', 'libuv reports POLLERR as EBADF');
  assertSyscallError(() => recv(a, Buffer.alloc(8), 0, 8, false), 'ECONNRESET', 'recv');
  poller.close();
  for (const f of [a, witnessA, witnessB]) close(f);
});

test('an exception thrown by a Poller callback is an ordinary uncaught exception', async () => {
  const unhandled = await runFixture('native-poller-throw', []);
  assert.equal(unhandled.code, 1);
  assert.match(unhandled.stderr, /boom-from-poller/);
  const handled = await runFixture('native-poller-throw', ['handled']);
  assert.equal(handled.code, 0, handled.stderr);
  assert.equal(handled.stdout, 'caught boom-from-poller\n');
});

test('Pollers in every state survive garbage collection', async () => {
  const result = await runFixture('native-poller-gc', []);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'ok\n');
});

// ---------------------------------------------------------------------------------------------------------
// Processes

test('pidfdOpen gives a close-on-exec fd that turns readable when the child exits', async () => {
  const child = track(spawn('/bin/sh', ['-c', 'read x'], { stdio: ['pipe', 'ignore', 'ignore'] }));
  await within(CHILD_DEADLINE_MS, 'spawn', once(child, 'spawn'));
  assert.ok(child.pid !== undefined);
  const pidfd = pidfdOpen(child.pid);
  assert.equal(getCloexec(pidfd), true);
  const exited = once(child, 'exit');
  const readable = nextEvent(pidfd);
  child.stdin?.end();
  assert.equal((await readable) & POLL_READABLE, POLL_READABLE);
  await within(CHILD_DEADLINE_MS, 'the child to exit', exited);
  close(pidfd);
  assertSyscallError(() => pidfdOpen(2 ** 22 + 12345), 'ESRCH', 'pidfd_open');
});

test('after an exec, children unknown to libuv are reaped by pidfd + waitpid(pid)', async () => {
  const result = await runFixture('native-reap', []);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Record<string, unknown>;
  assert.equal(report.pidAfter, report.pidBefore, 'execve kept the pid');
  assert.equal(report.stillRunning, null, 'WNOHANG on a running child');
  assert.deepEqual(report.exited, { pid: report.exitsOnExec, exitCode: 7, signal: null });
  assert.equal(report.again, 'ECHILD', 'reaped exactly once');
  assert.deepEqual(report.killed, { pid: report.runsOn, exitCode: null, signal: 'SIGKILL' });
});

test('waitpid refuses a process that is not our child', () => {
  assertSyscallError(() => waitpid(1, true), 'ECHILD', 'waitpid');
  assert.throws(() => waitpid(-1, true), RangeError, 'never waits on any child');
  assert.throws(() => waitpid(0, true), RangeError);
});

test('execve replaces the process image in place', async () => {
  const child = track(spawn(process.execPath, [fixture('native-execve')], { stdio: ['ignore', 'pipe', 'inherit'] }));
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const [code] = (await within(CHILD_DEADLINE_MS, 'the execve fixture to finish', once(child, 'close'))) as [number | null];
  assert.equal(code, 0);
  assert.equal(stdout, `exec-ok ${child.pid}\n`);
});

test('a failed execve throws and leaves this process running', () => {
  assertSyscallError(() => execve(path.join(dir, 'no-such-binary'), ['x'], []), 'ENOENT', 'execve');
  assertSyscallError(() => execve(dir, ['x'], []), 'EACCES', 'execve');
  assert.throws(() => execve('/bin/true', [], []), TypeError);
});

// ---------------------------------------------------------------------------------------------------------
// Fds

test('dupCloexec, setCloexec, getCloexec, setNonblock, close', () => {
  const file = tempFile();
  const fd = fs.openSync(file, 'r+');
  const dup = dupCloexec(fd);
  assert.ok(dup >= 3 && dup !== fd);
  assert.ok(sameFile(dup, fd));
  assert.equal(getCloexec(dup), true);
  setCloexec(dup, false);
  assert.equal(getCloexec(dup), false);
  assert.equal(getCloexec(fd), true, 'FD_CLOEXEC is per fd');
  setCloexec(dup, true);
  assert.equal(getCloexec(dup), true);

  const nonblock = (f: number): boolean => {
    const flags = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${f}`, 'utf8'))?.[1];
    return (parseInt(flags ?? '', 8) & fs.constants.O_NONBLOCK) !== 0;
  };
  setNonblock(dup, true);
  assert.equal(nonblock(fd), true, 'O_NONBLOCK is shared by dups');
  setNonblock(dup, false);
  assert.equal(nonblock(fd), false);

  // A dup shares the open file description, hence its OFD lock.
  assert.equal(ofdTryLock(fd, 'write', 0, 1), true);
  assert.equal(ofdGetLock(dup, 'write', 0, 1), null);
  close(dup);
  assertSyscallError(() => getCloexec(dup), 'EBADF', 'fcntl(F_GETFD)');
  assertSyscallError(() => close(dup), 'EBADF', 'close');
  fs.closeSync(fd);
});

test('bad arguments throw TypeError or RangeError before any syscall', () => {
  const [a, b] = socketpairSeqpacket();
  const buf = Buffer.alloc(8);
  const cases: Array<[() => unknown, ErrorConstructor]> = [
    [() => ofdTryLock('3' as never, 'write', 0, 1), TypeError],
    [() => ofdTryLock(a, 'exclusive' as never, 0, 1), TypeError],
    [() => ofdTryLock(a, 'write', -1, 1), RangeError],
    [() => ofdTryLock(a, 'write', 0, 1.5), RangeError],
    [() => ofdTryLock(-1, 'write', 0, 1), RangeError],
    [() => ofdUnlock(a, 0, Number.NaN), RangeError],
    [() => posixGetLock(a, 'read', 2 ** 53, 1), RangeError],
    [() => recv(a, buf, 4, 5, false), RangeError],
    [() => recv(a, buf, 0, 0, false), RangeError],
    [() => recv(a, 'buf' as never, 0, 1, false), TypeError],
    [() => recv(a, buf, 0, 1, 1 as never), TypeError],
    [() => send(a, buf, 9, 0), RangeError],
    [() => sendWithFds(a, buf, [1, 'x' as never]), TypeError],
    [() => sendWithFds(a, buf, 3 as never), TypeError],
    [() => recvWithFds(a, 0), RangeError],
    [() => listenUnix('bad\0path', 1), TypeError],
    [() => listenUnix(path.join(dir, 'x.sock'), -1), RangeError],
    [() => notifySend(42 as never, buf, []), TypeError],
    [() => setCloexec(a, 'yes' as never), TypeError],
    [() => pidfdOpen(0), RangeError],
    [() => execve('/bin/true', ['true', 7 as never], []), TypeError],
    [() => new Poller(undefined as never, () => undefined), TypeError],
  ];
  for (const [fn, type] of cases) assert.throws(fn, type, fn.toString());
  assert.equal(recv(a, buf, 0, 8, false), null, 'the fds were untouched');
  close(a);
  close(b);
});

test('Poller DISCONNECT fires when the peer stops sending, even with data still queued', async () => {
  const [a, b] = socketpairSeqpacket();
  try {
    sendWithFds(b, Buffer.from('partial'), []);
    const fired = new Promise<number>((resolve) => {
      const poller = new Poller(a, (events) => {
        poller.close();
        resolve(events);
      });
      poller.start(Poller.DISCONNECT);
    });
    close(b);
    const events = await within(POLLER_EVENT_DEADLINE_MS, 'DISCONNECT', fired);
    assert.ok((events & Poller.DISCONNECT) !== 0, `events ${events}`);
  } finally {
    close(a);
  }
});

test('openAt/fstatAt/unlinkAt work inside a directory fd and never follow a symlink there', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-dirfd-'));
  const outside = path.join(dir, '..', `${path.basename(dir)}-outside`);
  fs.writeFileSync(outside, 'x');
  const dirFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    const fd = native.openAt(dirFd, 'made', fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    assert.equal(native.getCloexec(fd), true, 'close-on-exec');
    const st = native.fstatAt(dirFd, 'made');
    assert.equal(st.ino, fs.fstatSync(fd, { bigint: true }).ino);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, process.geteuid!());
    native.close(fd);
    fs.symlinkSync(outside, path.join(dir, 'link'));
    assert.throws(() => native.openAt(dirFd, 'link', fs.constants.O_RDWR, 0), { code: 'ELOOP', syscall: 'openat' });
    assert.throws(() => native.openAt(dirFd, 'dangling-free', fs.constants.O_RDWR, 0), { code: 'ENOENT' });
    assert.equal(native.fstatAt(dirFd, 'link').mode & fs.constants.S_IFMT, fs.constants.S_IFLNK, 'the link itself');
    native.unlinkAt(dirFd, 'link');
    assert.ok(fs.existsSync(outside), 'unlinking the link leaves its target');
    native.unlinkAt(dirFd, 'made');
    assert.throws(() => native.fstatAt(dirFd, 'made'), { code: 'ENOENT', syscall: 'fstatat' });
    assert.throws(() => native.openAt(dirFd, 'a\0b', fs.constants.O_RDWR, 0), { code: 'ERR_INVALID_ARG_VALUE' });
  } finally {
    fs.closeSync(dirFd);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(outside, { force: true });
  }
});
