// recvManyWithFds on real SEQPACKET socketpairs: several datagrams and their fds in one call, each in its
// slot and with its own fds in order; none queued; EOF; a truncated datagram among whole ones (its fds
// closed, the others' intact); the caller's arrays checked before anything is received.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as native from '../../src/shared/platform/native';

const SLOT = 64;
const SLOTS = 4;
const META = SLOTS * (3 + 253);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-recv-many-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string): number {
  const at = path.join(dir, name);
  fs.writeFileSync(at, name);
  return fs.openSync(at, 'r');
}

function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** The datagrams one call returned: bytes, truncated, fds. */
function read(fd: number, buffer: Buffer, meta: Int32Array): Array<{ data: string; truncated: boolean; fds: number[] }> | null {
  const count = native.recvManyWithFds(fd, buffer, SLOT, meta);
  if (count === null) return null;
  const out: Array<{ data: string; truncated: boolean; fds: number[] }> = [];
  let fdAt = 3 * count;
  for (let m = 0; m < count; m++) {
    const fds: number[] = [];
    for (let i = 0; i < meta[3 * m + 2]!; i++) fds.push(meta[fdAt++]!);
    out.push({ data: buffer.toString('utf8', m * SLOT, m * SLOT + meta[3 * m]!), truncated: meta[3 * m + 1] === 1, fds });
  }
  return out;
}

test('recvManyWithFds: several datagrams in one call, each in its slot with its own fds, close-on-exec; null when none', () => {
  const [a, b] = native.socketpairSeqpacket();
  const buffer = Buffer.alloc(SLOTS * SLOT);
  const meta = new Int32Array(META);
  assert.equal(read(b, buffer, meta), null);
  const x = file('x');
  const y = file('y');
  native.sendWithFds(a, Buffer.from('first'), [x]);
  native.sendWithFds(a, Buffer.from('second'), []);
  native.sendWithFds(a, Buffer.from('third'), [y, x]);
  const got = read(b, buffer, meta)!;
  assert.deepEqual(
    got.map((m) => [m.data, m.truncated, m.fds.length]),
    [
      ['first', false, 1],
      ['second', false, 0],
      ['third', false, 2],
    ],
  );
  const [[toX], , [toY, toXAgain]] = got.map((m) => m.fds) as [[number], [], [number, number]];
  for (const fd of [toX, toY, toXAgain]) assert.equal(native.getCloexec(fd), true);
  assert.equal(fs.readFileSync(`/proc/self/fd/${toX}`, 'utf8'), 'x');
  assert.equal(fs.readFileSync(`/proc/self/fd/${toY}`, 'utf8'), 'y');
  assert.equal(fs.fstatSync(toXAgain).ino, fs.fstatSync(x).ino);
  for (const fd of [toX, toY, toXAgain, x, y]) native.close(fd);
  assert.equal(read(b, buffer, meta), null);
  native.close(a);
  native.close(b);
});

test('recvManyWithFds: no more datagrams than slots a call; the rest wait for the next; EOF reads as length 0 without fds', () => {
  const [a, b] = native.socketpairSeqpacket();
  const buffer = Buffer.alloc(SLOTS * SLOT);
  const meta = new Int32Array(META);
  for (let i = 0; i < SLOTS + 2; i++) native.sendWithFds(a, Buffer.from(`m${i}`), []);
  assert.deepEqual(read(b, buffer, meta)!.map((m) => m.data), ['m0', 'm1', 'm2', 'm3']);
  native.close(a);
  const rest = read(b, buffer, meta)!;
  assert.deepEqual(rest.slice(0, 2).map((m) => m.data), ['m4', 'm5']);
  assert.ok(rest.length >= 3, 'the end of the stream follows');
  assert.deepEqual(rest[2], { data: '', truncated: false, fds: [] });
  native.close(b);
});

test('recvManyWithFds: a datagram longer than its slot is reported truncated and its fds closed; its neighbours arrive whole', () => {
  const [a, b] = native.socketpairSeqpacket();
  const buffer = Buffer.alloc(SLOTS * SLOT);
  const meta = new Int32Array(META);
  const x = file('long');
  native.sendWithFds(a, Buffer.from('before'), [x]);
  native.sendWithFds(a, Buffer.alloc(SLOT + 10, 'z'), [x, x]);
  native.sendWithFds(a, Buffer.from('after'), [x]);
  const before = openFdCount();
  const got = read(b, buffer, meta)!;
  assert.deepEqual(
    got.map((m) => [m.data.slice(0, 6), m.truncated, m.fds.length]),
    [
      ['before', false, 1],
      ['zzzzzz', true, 0],
      ['after', false, 1],
    ],
  );
  assert.equal(openFdCount(), before + 2, 'only the whole datagrams\' fds are open');
  for (const m of got) for (const fd of m.fds) native.close(fd);
  native.close(x);
  native.close(a);
  native.close(b);
});

test('recvManyWithFds: arrays too small for a slot are refused before anything is received', () => {
  const [a, b] = native.socketpairSeqpacket();
  native.sendWithFds(a, Buffer.from('kept'), []);
  assert.throws(() => native.recvManyWithFds(b, Buffer.alloc(SLOT), SLOT, new Int32Array(10)), RangeError);
  assert.throws(() => native.recvManyWithFds(b, Buffer.alloc(SLOT - 1), SLOT, new Int32Array(META)), RangeError);
  assert.throws(() => native.recvManyWithFds(b, Buffer.alloc(SLOT), SLOT, new Uint32Array(META) as unknown as Int32Array), TypeError);
  assert.deepEqual(read(b, Buffer.alloc(SLOTS * SLOT), new Int32Array(META))!.map((m) => m.data), ['kept']);
  native.close(a);
  native.close(b);
});
