// The binary commit form (commit-codec.ts), property by property: any valid commit or acknowledgement
// round-trips; any bytes at all — random, truncated, mutated — either decode to a message the JSON Schema
// accepts (with each put's key that of its record) or are refused with CommitCodecError, never another
// error; and over a real socketpair a malformed binary commit is refused with its fds closed while a valid
// one arrives whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import pino from 'pino';
import { ControlChannel } from '../../src/shared/custody/channel';
import { BINARY_FRAME_MAGIC, COMMIT_CODEC_VERSION, CommitCodecError, decodeCommit, decodeCommitted, encodeCommit, encodeCommitted } from '../../src/shared/custody/commit-codec';
import { type CommitEntry, type CommitMessage, type CustodyOp, type WorkerMessage, isWorkerMessage } from '../../src/shared/custody/messages';
import { type CustodyRecord, custodyKey } from '../../src/shared/custody/records/custody-record';
import * as native from '../../src/shared/platform/native';
import { within } from '../fixtures/deadline';

// ---- arbitraries --------------------------------------------------------------------------------

// Plain objects, as the worker builds them (fast-check may otherwise make null-prototype ones).
const record_ = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> => fc.record(model, { noNullPrototype: true });

// Any well-formed string, quotes, backslashes and controls included (they change how a resource key is spelt).
const text = (maxLength: number, minLength = 0) => fc.oneof(fc.string({ minLength, maxLength }), fc.string({ unit: 'binary', minLength, maxLength }));
// JSON has no -0: records that travel as JSON text come back with 0.
const time = fc.double({ noNaN: true, noDefaultInfinity: true }).map((t) => (t === 0 ? 0 : t));
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const resourceRecord = record_({
  kind: fc.constant('resource' as const),
  lockspace: text(40),
  name: text(40),
  path: text(60),
  flags: fc.integer({ min: 0, max: 3 }),
  owners: fc.array(fc.oneof(u32, fc.maxSafeNat()), { maxLength: 5 }),
  acquiredAt: time,
  lockKind: fc.constantFrom('ofd' as const, 'posix' as const),
});
// A resource with detached owners travels as JSON text inside the frame.
const detachedResourceRecord = fc.tuple(resourceRecord, fc.array(u32, { minLength: 1, maxLength: 3 })).map(([r, detachedOwners]) => ({ ...r, detachedOwners }));
const clientRecord = record_({
  kind: fc.constant('client' as const),
  server: fc.constantFrom('virtlockd' as const, 'admin' as const),
  id: fc.integer({ min: 1, max: 1_000_000 }),
  connectedAt: time,
  peer: record_({ pid: fc.integer(), uid: fc.integer(), gid: fc.integer() }),
  restricted: fc.boolean(),
  owner: fc.constant(null),
  registeredAt: time,
});
const lockspaceRecord = record_({ kind: fc.constant('lockspace' as const), directory: text(40, 1) });
const record: fc.Arbitrary<CustodyRecord> = fc.oneof(resourceRecord, resourceRecord, detachedResourceRecord, clientRecord, lockspaceRecord);

const op: fc.Arbitrary<CustodyOp> = fc.oneof(
  record_({ op: fc.constant('put' as const), record, fdIndex: fc.option(u32) }),
  record_({ op: fc.constant('drop' as const), key: text(80) }),
  record_({ op: fc.constantFrom('join' as const, 'leave' as const), key: text(80), pid: u32 }),
);
const reply = fc.option(
  record_({
    client: text(64),
    consume: fc.integer({ min: 0, max: 262_144 }),
    piped: fc.integer({ min: 0, max: 1_048_576 }),
    data: fc.base64String({ maxLength: 200 }),
  }),
);
const entry: fc.Arbitrary<CommitEntry> = record_({ seq: fc.maxSafeNat(), ops: fc.array(op, { maxLength: 4 }), reply, ack: fc.boolean() });
// A batch number is sent plus one (0 stands for none).
const commit: fc.Arbitrary<CommitMessage> = record_({
  type: fc.constant('commit' as const),
  batch: fc.option(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 1 })),
  entries: fc.array(entry, { maxLength: 6 }),
});

/** The commit as the decoder gives it back: every put with its record's custody key. */
function keyed(message: CommitMessage): CommitMessage {
  return { ...message, entries: message.entries.map((e) => ({ ...e, ops: e.ops.map((o) => (o.op === 'put' ? { ...o, key: custodyKey(o.record) } : o)) })) };
}

/** Whatever the decoder accepts, the JSON path would have accepted, and each put's key is its record's. */
function assertAcceptable(message: CommitMessage): void {
  const asJson = {
    ...message,
    entries: message.entries.map((e) => ({
      ...e,
      ops: e.ops.map((o) => {
        if (o.op !== 'put') return o;
        assert.equal(o.key, custodyKey(o.record), 'a put is accepted only under its record\'s key');
        return { op: o.op, record: o.record, fdIndex: o.fdIndex };
      }),
    })),
  };
  assert.ok(isWorkerMessage(asJson), `decoded commit fails the JSON Schema: ${JSON.stringify(isWorkerMessage.errors)}`);
}

/** Decodes, and returns the message or the CommitCodecError; any other throw fails the test. */
function decodeOrRefuse<T>(decode: (data: Buffer) => T, data: Buffer): T | CommitCodecError {
  try {
    return decode(data);
  } catch (err) {
    if (err instanceof CommitCodecError) return err;
    throw new Error(`decoder threw ${String(err)} instead of CommitCodecError`);
  }
}

// ---- round trips --------------------------------------------------------------------------------

test('any valid commit round-trips, each put with its record\'s custody key, and passes the JSON Schema', () => {
  fc.assert(
    fc.property(commit, (message) => {
      const frame = encodeCommit(message);
      assert.ok(frame, 'a commit of well-formed strings is encodable');
      assert.equal(frame[0], BINARY_FRAME_MAGIC);
      const decoded = decodeCommit(frame);
      assert.deepEqual(decoded, keyed(message));
      assertAcceptable(decoded);
    }),
    { numRuns: 500 },
  );
});

test('any acknowledgement round-trips', () => {
  fc.assert(
    fc.property(fc.array(fc.maxSafeNat(), { maxLength: 50 }), (seqs) => {
      assert.deepEqual(decodeCommitted(encodeCommitted(seqs)), { type: 'committed', seqs });
    }),
  );
});

test('a commit the binary form cannot carry exactly (a lone surrogate) is left to JSON', () => {
  const lone: CommitMessage = { type: 'commit', batch: null, entries: [{ seq: 1, ops: [{ op: 'drop', key: 'lockspace:\ud800' }], reply: null, ack: false }] };
  assert.equal(encodeCommit(lone), null);
  assert.ok(isWorkerMessage(JSON.parse(JSON.stringify(lone))), 'JSON carries it');
});

// ---- hostile bytes ------------------------------------------------------------------------------

const header = (kind: number): number[] => [BINARY_FRAME_MAGIC, COMMIT_CODEC_VERSION, kind];

/** Bytes that may or may not be a commit frame: random, valid ones truncated, mutated, or with a tail. */
const hostileCommit = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from([...header(1), ...a])),
  fc.tuple(commit, fc.nat()).map(([m, cut]) => {
    const frame = encodeCommit(m)!;
    return frame.subarray(0, cut % (frame.length + 1));
  }),
  fc.tuple(commit, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 })).map(([m, edits]) => {
    const frame = Buffer.from(encodeCommit(m)!);
    for (const [at, value] of edits) frame[at % frame.length] = value;
    return frame;
  }),
  fc.tuple(commit, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([m, tail]) => Buffer.concat([encodeCommit(m)!, Buffer.from(tail)])),
);

test('hostile bytes never decode to anything the schema refuses, and fail only with CommitCodecError', () => {
  let refused = 0;
  fc.assert(
    fc.property(hostileCommit, (bytes) => {
      const result = decodeOrRefuse(decodeCommit, bytes);
      if (result instanceof CommitCodecError) refused++;
      else assertAcceptable(result);
    }),
    { numRuns: 3000 },
  );
  assert.ok(refused > 0);
});

test('hostile acknowledgements decode to non-negative safe integers or fail with CommitCodecError', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from([...header(2), ...a])),
        fc.tuple(fc.array(fc.maxSafeNat(), { maxLength: 8 }), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([seqs, at, value]) => {
          const frame = Buffer.from(encodeCommitted(seqs));
          frame[at % frame.length] = value;
          return frame;
        }),
      ),
      (bytes) => {
        const result = decodeOrRefuse(decodeCommitted, bytes);
        if (!(result instanceof CommitCodecError)) assert.ok(isSupervisorAck(result.seqs));
      },
    ),
    { numRuns: 2000 },
  );
});

function isSupervisorAck(seqs: number[]): boolean {
  return seqs.every((s) => Number.isSafeInteger(s) && s >= 0);
}

/** A one-entry commit with one plain resource put, to corrupt one field at a time. */
function resourceCommit(changes: { record?: Record<string, unknown>; reply?: Record<string, unknown>; key?: string }): CommitMessage {
  const base = { kind: 'resource', lockspace: '', name: '/a', path: '/a', flags: 0, owners: [7], acquiredAt: 1, lockKind: 'ofd' };
  const put = { op: 'put', record: { ...base, ...changes.record }, fdIndex: 0, ...(changes.key ? { key: changes.key } : {}) } as CustodyOp;
  const reply = { client: 'client:virtlockd:1', consume: 28, piped: 0, data: '', ...changes.reply } as CommitEntry['reply'];
  return { type: 'commit', batch: null, entries: [{ seq: 1, ops: [put], reply, ack: false }] };
}

test('each out-of-range field is refused', () => {
  const cases: Array<[string, CommitMessage]> = [
    ['flags past SHARED|AUTOCREATE', resourceCommit({ record: { flags: 4 } })],
    ['NaN acquiredAt', resourceCommit({ record: { acquiredAt: Number.NaN } })],
    ['infinite acquiredAt', resourceCommit({ record: { acquiredAt: Number.POSITIVE_INFINITY } })],
    ['a name past its schema bound', resourceCommit({ record: { name: 'x'.repeat(65_537) } })],
    ['consume past its bound', resourceCommit({ reply: { consume: 262_145 } })],
    ['piped past its bound', resourceCommit({ reply: { piped: 1_048_577 } })],
    ['a client key past 64 characters', resourceCommit({ reply: { client: 'c'.repeat(65) } })],
    ['a key that is not the record\'s', resourceCommit({ key: 'resource:["","/b"]' })],
    ['a client record that fails its schema', { type: 'commit', batch: null, entries: [{ seq: 1, ops: [{ op: 'put', record: { kind: 'client', server: 'virtlockd', id: 0 } as never, fdIndex: null }], reply: null, ack: false }] }],
  ];
  for (const [what, message] of cases) {
    const frame = encodeCommit(message);
    assert.ok(frame, what);
    assert.throws(() => decodeCommit(frame), CommitCodecError, what);
  }
  // An unknown version or kind, a non-minimal varint, a count past the bytes left.
  const good = encodeCommit(resourceCommit({}))!;
  const bad = [Buffer.from([BINARY_FRAME_MAGIC, 2, 1, 0, 0]), Buffer.from([BINARY_FRAME_MAGIC, 1, 3, 0, 0]), Buffer.from([...header(1), 0x80, 0x00, 0]), Buffer.from([...header(1), 0, 0xff, 0xff, 0x7f])];
  for (const frame of [...bad, good.subarray(0, good.length - 1)]) assert.throws(() => decodeCommit(frame), CommitCodecError);
});

// ---- over a real socketpair ---------------------------------------------------------------------

test('over a socketpair, a malformed binary commit is refused with its fds closed; a valid one arrives whole', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _e, cb) => (chunk.toString().split('\n').filter(Boolean).forEach((l) => lines.push(JSON.parse(l) as Record<string, unknown>)), cb()) }));
  const [raw, end] = native.socketpairSeqpacket();
  const received: Array<{ message: WorkerMessage; fds: number[] }> = [];
  let arrived: () => void = () => undefined;
  const channel = new ControlChannel<WorkerMessage, never>(end, isWorkerMessage, { message: (message, fds) => (received.push({ message, fds }), arrived()), close: () => undefined }, log, { decodeBinary: decodeCommit });
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-codec-'));
  const fd = openSync(join(dir, 'f'), 'w');
  try {
    const baseline = readdirSync('/proc/self/fd').length;
    const valid = resourceCommit({});
    const frame = encodeCommit(valid)!;
    const malformed = [frame.subarray(0, frame.length - 3), encodeCommit(resourceCommit({ record: { flags: 9 } }))!, Buffer.from([...header(1), 0xff])];
    for (const bytes of malformed) native.sendWithFds(raw, bytes, [fd, fd]);
    const whole = new Promise<void>((resolve) => (arrived = resolve));
    native.sendWithFds(raw, frame, [fd]);
    await within(10_000, 'the valid binary commit', whole);

    assert.equal(received.length, 1, 'only the valid commit reaches the handler');
    assert.deepEqual(received[0]!.message, keyed(valid));
    assert.equal(received[0]!.fds.length, 1);
    received[0]!.fds.forEach((f) => native.close(f));
    assert.equal(readdirSync('/proc/self/fd').length, baseline, 'the fds of refused commits are closed');
    const refusals = lines.filter((l) => l.msg === 'refusing an unreadable control message');
    assert.equal(refusals.length, malformed.length);
    assert.ok(refusals.every((l) => l.level === 50 && (l.err as { type?: string }).type === 'CommitCodecError'));
  } finally {
    closeSync(fd);
    native.close(raw);
    channel.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
