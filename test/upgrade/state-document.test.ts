// The restart-exec state document: schema, atomic write, read-and-remove, and --check-state, on real files in
// a temp dir, a real concurrent reader process, and this process's own open fds and locks.
// Fixtures: test/fixtures/state-documents/ (virtlockd-sample.json is the document a real virtlockd wrote).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { close as closeFd, listenUnix, ofdTryLock, posixTryLock, setCloexec, socketpairSeqpacket } from '../../src/shared/platform/native';
import { checkStateDocument, formatCheckReport } from '../../src/supervisor/upgrade/check-state';
import { STATE_SCHEMA_VERSION, listFdReferences, type ResourceState, type StateDocument } from '../../src/supervisor/upgrade/state-document';
import { validateStateDocument } from '../../src/supervisor/upgrade/state-schema';
import { within } from '../fixtures/deadline';
import { readStateFile, rejectedPathFor, StateDocumentError, writeStateFile, type StateDocumentErrorReason } from '../../src/supervisor/upgrade/state-file';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'state-documents');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-state-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let counter = 0;

function fixtureText(name: string): string {
  return fs.readFileSync(path.join(FIXTURES, name), 'utf8');
}

/** A fresh copy of a fixture document, as parsed JSON (deliberately untyped: tests break it). */
function fixture(name = 'virtlockd-sample.json'): any {
  return JSON.parse(fixtureText(name));
}

function freshPath(label = 'state'): string {
  return path.join(dir, `${label}-${++counter}.json`);
}

/** Writes raw text where a state document is expected. */
function plant(text: string | Buffer): string {
  const file = freshPath('planted');
  fs.writeFileSync(file, text);
  return file;
}

/** The StateDocumentError readStateFile throws for `file`. */
function readError(file: string, options: Parameters<typeof readStateFile>[1] = { remove: false }): StateDocumentError {
  try {
    readStateFile(file, options);
  } catch (err) {
    assert.ok(err instanceof StateDocumentError, `expected a StateDocumentError, got ${String(err)}`);
    return err;
  }
  assert.fail(`${file} was accepted`);
}

/** Validates a broken document; asserts it is refused and returns the errors. */
function rejected(doc: unknown, reason: 'invalid' | 'wrong-version' = 'invalid'): string[] {
  const result = validateStateDocument(doc);
  assert.equal(result.ok, false, 'document was accepted');
  if (result.ok) return [];
  assert.equal(result.reason, reason, result.errors.join('\n'));
  assert.ok(result.errors.length > 0);
  return result.errors;
}

function assertSomeError(errors: string[], pattern: RegExp): void {
  assert.ok(errors.some((e) => pattern.test(e)), `no error matches ${pattern}:\n${errors.join('\n')}`);
}

test('the document a real virtlockd wrote validates', () => {
  const result = validateStateDocument(fixture());
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  const doc = result.document;
  assert.equal(doc.magic, '7514');
  assert.equal(doc.holdfast, undefined);
  assert.equal(doc.daemon.servers.virtlockd.clients.length, 6);
  assert.equal(doc.daemon.servers.admin?.clients.length, 0);
  // document order: the lock server (listener, clients), the admin server, then every lockspace's resources
  assert.deepEqual(
    listFdReferences(doc).map((r) => `${r.fd}:${r.role}`),
    ['5:listen-socket', '11:client-socket', '12:client-socket', '17:client-socket', '16:client-socket', '18:client-socket', '19:client-socket',
      '6:listen-socket', '21:resource', '20:resource', '22:resource'],
  );
});

test('a document virtlockd wrote under socket activation, with an admin client and a restricted client, validates', () => {
  const result = validateStateDocument(fixture('virtlockd-activated-admin-client.json'));
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  const admin = result.document.daemon.servers.admin!;
  assert.deepEqual(admin.clients[0]!.privateData, {});
  // activation sockets are not virtlockd's to unlink
  assert.equal(result.document.daemon.servers.virtlockd.services[0]!.socks[0]!.unlinkUNIX, false);
});

test('a holdfast-extended document validates and keeps its holdfast keys', () => {
  const result = validateStateDocument(fixture('holdfast-extended.json'));
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  const doc = result.document;
  assert.equal(doc.holdfast?.schemaVersion, STATE_SCHEMA_VERSION);
  assert.equal(doc.defaultLockspace.resources[0]!.holdfast?.lockKind, 'ofd');
  const unregistered = doc.daemon.servers.virtlockd.clients.at(-1)!;
  assert.equal(unregistered.privateData.ownerId, 0);
  assert.equal(unregistered.conn_time, undefined);
  assert.equal(unregistered.holdfast?.registeredAt, 0);
});

test('the virtlockd document round-trips through writeStateFile and readStateFile', () => {
  for (const name of ['virtlockd-sample.json', 'virtlockd-activated-admin-client.json', 'holdfast-extended.json']) {
    const file = freshPath('roundtrip');
    writeStateFile(file, fixture(name) as StateDocument);
    assert.deepEqual(readStateFile(file, { remove: false }), fixture(name));
    // pretty-printed with two spaces, like virtlockd's own file, and readable by JSON.parse alone
    assert.match(fs.readFileSync(file, 'utf8'), /^\{\n {2}"daemon": \{\n/);
  }
});

test('writeStateFile: mode 0600 whatever the umask, no temp file left behind', () => {
  const sub = fs.mkdtempSync(path.join(dir, 'atomic-'));
  const file = path.join(sub, 'virtlockd-restart-exec.json');
  const old = process.umask(0o000);
  try {
    writeStateFile(file, fixture() as StateDocument);
    writeStateFile(file, fixture('holdfast-extended.json') as StateDocument); // replaces it
  } finally {
    process.umask(old);
  }
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(fs.readdirSync(sub), ['virtlockd-restart-exec.json']);
  assert.equal(readStateFile(file, { remove: false }).holdfast?.generation, 4);
});

test('writeStateFile refuses an invalid document and writes nothing', () => {
  const file = freshPath('refused');
  const doc = fixture();
  doc.defaultLockspace.resources[0].fd = 5; // the lock server's listening socket
  assert.throws(
    () => writeStateFile(file, doc),
    (err: unknown) => err instanceof StateDocumentError && err.reason === 'invalid' && /fd 5 is already used/.test(err.message),
  );
  const newer = fixture('holdfast-extended.json');
  newer.holdfast.schemaVersion = 2;
  assert.throws(() => writeStateFile(file, newer), (err: unknown) => err instanceof StateDocumentError && err.reason === 'wrong-version');
  assert.equal(fs.existsSync(file), false);
  assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('.tmp-')), []);
});

test('writeStateFile leaves no temp file behind when the final rename fails', () => {
  const sub = fs.mkdtempSync(path.join(dir, 'rename-fails-'));
  const file = path.join(sub, 'state.json');
  fs.mkdirSync(file); // a non-empty directory cannot be replaced by a file
  fs.writeFileSync(path.join(file, 'occupant'), '');
  assert.throws(
    () => writeStateFile(file, fixture() as StateDocument),
    (err: unknown) => err instanceof StateDocumentError && err.reason === 'unwritable',
  );
  assert.deepEqual(fs.readdirSync(sub), ['state.json']);
});

test('readStateFile: no file is "missing" and nothing is moved', () => {
  const file = freshPath('absent');
  const err = readError(file, { remove: true });
  assert.equal(err.reason, 'missing');
  assert.equal(err.renamedTo, undefined);
});

test('readStateFile rejects files that are not a JSON document', () => {
  const sample = fixtureText('virtlockd-sample.json');
  const cases: Array<[string, string | Buffer, StateDocumentErrorReason]> = [
    ['truncated', sample.slice(0, Math.floor(sample.length / 2)), 'not-json'],
    ['cut before the last brace', sample.trimEnd().slice(0, -1), 'not-json'],
    ['invalid JSON', '{"magic": "1",}', 'not-json'],
    ['empty', '', 'not-json'],
    ['not UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'not-json'],
    ['a JSON array', '[]', 'invalid'],
    ['JSON null', 'null', 'invalid'],
  ];
  for (const [label, text, reason] of cases) {
    const err = readError(plant(text));
    assert.equal(err.reason, reason, `${label}: ${err.message}`);
  }
  assert.match(readError(plant(sample.slice(0, 100))).message, /is not valid JSON \(truncated\?\)/);
});

test('readStateFile refuses what is not a regular file, and anything over the size limit', () => {
  const directory = freshPath('a-directory');
  fs.mkdirSync(directory);
  assert.equal(readError(directory).reason, 'unreadable');
  const link = freshPath('a-symlink');
  fs.symlinkSync(plant(fixtureText('virtlockd-sample.json')), link);
  assert.equal(readError(link).reason, 'unreadable');
  const big = plant(fixtureText('virtlockd-sample.json'));
  const err = readError(big, { remove: false, maxBytes: 1024 });
  assert.equal(err.reason, 'too-large');
  assert.match(err.message, /larger than the 1024-byte limit/);
});

test('missing required virtlockd keys are refused, naming the key and where', () => {
  const cases: Array<[string, (d: any) => void, RegExp]> = [
    ['magic', (d) => delete d.magic, /^\(root\): missing required key 'magic'$/],
    ['daemon', (d) => delete d.daemon, /^\(root\): missing required key 'daemon'$/],
    ['defaultLockspace', (d) => delete d.defaultLockspace, /^\(root\): missing required key 'defaultLockspace'$/],
    ['lockspaces', (d) => delete d.lockspaces, /^\(root\): missing required key 'lockspaces'$/],
    ['servers.virtlockd', (d) => delete d.daemon.servers.virtlockd, /^\/daemon\/servers: missing required key 'virtlockd'$/],
    ['next_client_id', (d) => delete d.daemon.servers.virtlockd.next_client_id, /^\/daemon\/servers\/virtlockd: missing required key 'next_client_id'$/],
    ['socks', (d) => delete d.daemon.servers.admin.services[0].socks, /^\/daemon\/servers\/admin\/services\/0: missing required key 'socks'$/],
    ['privateData', (d) => delete d.daemon.servers.virtlockd.clients[2].privateData, /clients\/2: missing required key 'privateData'$/],
    ['ownerUUID', (d) => delete d.daemon.servers.virtlockd.clients[0].privateData.ownerUUID, /clients\/0\/privateData: missing required key 'ownerUUID'$/],
    ['sock.isClient', (d) => delete d.daemon.servers.virtlockd.clients[1].sock.isClient, /clients\/1\/sock: missing required key 'isClient'$/],
    ['resource fd', (d) => delete d.defaultLockspace.resources[1].fd, /^\/defaultLockspace\/resources\/1: missing required key 'fd'$/],
    ['resource owners', (d) => delete d.lockspaces[2].resources[0].owners, /^\/lockspaces\/2\/resources\/0: missing required key 'owners'$/],
    ['lockspace directory', (d) => delete d.lockspaces[0].directory, /^\/lockspaces\/0: missing required key 'directory'$/],
  ];
  for (const [label, breakIt, expected] of cases) {
    const doc = fixture();
    breakIt(doc);
    assertSomeError(rejected(doc), expected);
    // and the same through the file reader
    const err = readError(plant(JSON.stringify(doc)));
    assert.equal(err.reason, 'invalid', label);
    assertSomeError([...err.problems], expected);
  }
});

test('wrong types and out-of-range values are refused, naming where', () => {
  const cases: Array<[(d: any) => void, RegExp]> = [
    [(d) => (d.defaultLockspace.resources[0].fd = '21'), /^\/defaultLockspace\/resources\/0\/fd: must be an integer \(found "21"\)$/],
    [(d) => (d.defaultLockspace.resources[0].fd = -1), /resources\/0\/fd: must be from 0 to 2147483647 \(found -1\)$/],
    [(d) => (d.defaultLockspace.resources[0].fd = 2 ** 31), /resources\/0\/fd: must be from 0 to 2147483647/],
    [(d) => (d.defaultLockspace.resources[0].fd = 21.5), /resources\/0\/fd: must be an integer \(found 21.5\)$/],
    [(d) => (d.defaultLockspace.resources[0].lockHeld = 'true'), /lockHeld: must be a boolean \(found "true"\)$/],
    [(d) => (d.defaultLockspace.resources[0].flags = 4), /flags: must be from 0 to 3 \(found 4\)$/],
    [(d) => (d.defaultLockspace.resources[0].owners = ['11840']), /owners\/0: must be an integer/],
    [(d) => (d.defaultLockspace.resources[0].owners = [-1]), /owners\/0: must be from 0 to 4294967295/],
    [(d) => (d.daemon.servers.virtlockd.clients[0].sock.errfd = -2), /sock\/errfd: must be from -1 to 2147483647 \(found -2\)$/],
    [(d) => (d.daemon.servers.virtlockd.clients[0].privateData.ownerPid = -5), /ownerPid: must be from 0 to 4294967295/],
    [(d) => (d.daemon.servers.virtlockd.clients[0].privateData.ownerUUID = 'c0ffee00000040008000000000000011'), /ownerUUID: must be a UUID written 8-4-4-4-12/],
    [(d) => (d.daemon.servers.virtlockd.clients[0].privateData.ownerName = 7), /ownerName: must be a string \(found 7\)$/],
    [(d) => (d.daemon.servers.virtlockd.clients[0].privateData.restricted = 0), /restricted: must be a boolean/],
    [(d) => (d.daemon.servers.virtlockd.keepaliveInterval = -1), /keepaliveInterval: must be from 0 to 4294967295/],
    [(d) => (d.daemon.servers.virtlockd.clients = {}), /^\/daemon\/servers\/virtlockd\/clients: must be an array \(found an object\)$/],
    [(d) => (d.magic = 7514), /^\/magic: must be a string \(found 7514\)$/],
    [(d) => (d.magic = 'pid 7514'), /^\/magic: must be a pid in decimal/],
    [(d) => (d.lockspaces[0].directory = ''), /^\/lockspaces\/0\/directory: must be 1 to 4096 characters long \(found 0\)$/],
    [(d) => (d.daemon.servers.virtlockd.clients[0].surprise = 1), /clients\/0: unknown key 'surprise'$/],
    [(d) => (d.daemon.servers.backup = d.daemon.servers.admin), /^\/daemon\/servers: unknown key 'backup'$/],
    [(d) => (d.daemon.servers.admin = null), /^\/daemon\/servers\/admin: must not be null/],
    [(d) => (d.holdfast = null), /^\/holdfast: must not be null/],
    [(d) => (d.holdfast = { schemaVersion: '1' }), /^\/holdfast\/schemaVersion: must be an integer/],
  ];
  for (const [breakIt, expected] of cases) {
    const doc = fixture();
    breakIt(doc);
    assertSomeError(rejected(doc), expected);
  }
});

test('a schema version other than 1 gets its own reason and message', () => {
  const newer = fixture('holdfast-extended.json');
  newer.holdfast.schemaVersion = 2;
  newer.holdfast.somethingNew = true; // a newer writer may add anything; the version is the news
  assert.deepEqual(rejected(newer, 'wrong-version'), ['state document schema version 2 is newer than this holdfastd understands (1)']);
  const file = plant(JSON.stringify(newer));
  const err = readError(file);
  assert.equal(err.reason, 'wrong-version');
  assert.equal(err.message, `${file}: state document schema version 2 is newer than this holdfastd understands (1)`);
  const older = fixture('holdfast-extended.json');
  older.holdfast.schemaVersion = 0;
  assert.deepEqual(rejected(older, 'wrong-version'), ['state document schema version 0 is not one this holdfastd understands (1)']);
});

test('one fd cannot be two things', () => {
  const socketAndResource = fixture();
  socketAndResource.defaultLockspace.resources[0].fd = 11; // client 0's socket
  assertSomeError(
    rejected(socketAndResource),
    /^\/defaultLockspace\/resources\/0\/fd: fd 11 is already used at \/daemon\/servers\/virtlockd\/clients\/0\/sock\/fd \(one fd cannot be two things\)$/,
  );
  const twoResources = fixture();
  twoResources.lockspaces[2].resources[0].fd = 20;
  assertSomeError(rejected(twoResources), /^\/lockspaces\/2\/resources\/0\/fd: fd 20 is already used at \/defaultLockspace\/resources\/1\/fd/);
  const errfd = fixture();
  errfd.daemon.servers.admin.services[0].socks[0].errfd = 22;
  assertSomeError(rejected(errfd), /resources\/0\/fd: fd 22 is already used at \/daemon\/servers\/admin\/services\/0\/socks\/0\/errfd/);
});

test('a resource name that escapes its lockspace directory is refused', () => {
  for (const name of ['../vol1', 'a/b', '..', '.', '/etc/passwd']) {
    const doc = fixture();
    const resource = doc.lockspaces[2].resources[0];
    resource.name = name;
    resource.path = `${doc.lockspaces[2].directory}/${name}`;
    assertSomeError(rejected(doc), /^\/lockspaces\/2\/resources\/0\/name: resource name .* escapes lockspace directory/);
  }
  // the default lockspace has no directory: its names are paths
  assert.ok(validateStateDocument(fixture()).ok);
});

test('the cross-field rules virtlockd relies on are enforced', () => {
  const cases: Array<[(d: any) => void, RegExp]> = [
    [(d) => (d.lockspaces[2].resources[0].path = '/elsewhere/vol1'), /^\/lockspaces\/2\/resources\/0\/path: must be the directory and the name/],
    [(d) => (d.defaultLockspace.resources[0].path = '/tmp/other.img'), /^\/defaultLockspace\/resources\/0\/path: must equal the name/],
    [(d) => d.lockspaces.push(structuredClone(d.lockspaces[1])), /^\/lockspaces\/4\/directory: lockspace ".*ls-early" is already listed at \/lockspaces\/1$/],
    [
      (d) => d.defaultLockspace.resources.push({ ...structuredClone(d.defaultLockspace.resources[0]), fd: 40 }),
      /^\/defaultLockspace\/resources\/2\/name: resource ".*disk2.img" is already listed at \/defaultLockspace\/resources\/0$/,
    ],
    [(d) => (d.daemon.servers.virtlockd.clients[1].id = 380), /clients\/1\/id: client id 380 is already used by \/daemon\/servers\/virtlockd\/clients\/0$/],
    [(d) => (d.daemon.servers.virtlockd.max_anonymous_clients = 2048), /max_anonymous_clients: must not exceed max_clients \(1024\)/],
    [(d) => (d.daemon.servers.virtlockd.clients[0].auth_pending = true), /clients\/0\/auth_pending: must be false when auth is 0/],
    [(d) => (d.daemon.servers.virtlockd.clients[0].sock.isClient = false), /clients\/0\/sock\/isClient: a client connection must have isClient true/],
    [(d) => (d.daemon.servers.virtlockd.services[0].socks[0].isClient = true), /services\/0\/socks\/0\/isClient: a listening socket must have isClient false/],
    [(d) => (d.lockspaces[2].resources[0].name = 'vol\u00001'), /name and path must not contain a NUL character/],
    [(d) => (d.defaultLockspace.resources[0].name = d.defaultLockspace.resources[0].path = '/tmp/disk\udc80.img'), /must be well-formed strings/],
    [(d) => (d.lockspaces[2].directory = '/tmp/ls\ud800'), /directory: is not a well-formed string/],
  ];
  for (const [breakIt, expected] of cases) {
    const doc = fixture();
    breakIt(doc);
    assertSomeError(rejected(doc), expected);
  }
  const badDate = fixture('holdfast-extended.json');
  badDate.holdfast.savedAt = '2026-13-45T25:61:61.000Z';
  assertSomeError(rejected(badDate), /^\/holdfast\/savedAt: .* is not a real date$/);
});

test('a broken document lists every problem, capped, each with a pointer', () => {
  const doc = fixture();
  for (const resource of doc.defaultLockspace.resources) resource.fd = 'x';
  for (let i = 0; i < 80; i++) doc.lockspaces.push({ directory: `/d/${i}`, resources: [{ name: 'n' }] });
  const errors = rejected(doc);
  assert.equal(errors.length, 51);
  assert.match(errors.at(-1)!, /^… and \d+ more problems$/);
  for (const e of errors.slice(0, -1)) assert.match(e, /^(\/|\(root\))/);
});

test('validateStateDocument never throws, whatever value replaces any part of a real document', () => {
  const sample = fixture();
  const pointers: string[][] = [];
  (function walk(value: unknown, at: string[]): void {
    pointers.push(at);
    if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...at, k]);
  })(sample, []);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: pointers.length - 1 }), fc.jsonValue(), (which, replacement) => {
      const doc = fixture();
      const at = pointers[which]!;
      if (at.length === 0) return checkOutcome(validateStateDocument(replacement));
      let parent = doc;
      for (const key of at.slice(0, -1)) parent = parent[key];
      parent[at.at(-1)!] = replacement;
      checkOutcome(validateStateDocument(doc));
    }),
    { numRuns: 400 },
  );
  function checkOutcome(result: ReturnType<typeof validateStateDocument>): void {
    if (!result.ok) for (const e of result.errors) assert.match(e, /^(\/|\(root\)|state document|… and)/);
  }
});

test('readStateFile checks the magic: a document for another pid is refused', () => {
  const file = freshPath('foreign');
  writeStateFile(file, fixture() as StateDocument);
  const err = readError(file, { remove: false, expectedMagic: '1234' });
  assert.equal(err.reason, 'foreign-magic');
  assert.equal(err.message, `state document ${file} belongs to pid 7514, not 1234`);
  assert.equal(readStateFile(file, { remove: false, expectedMagic: '7514' }).magic, '7514');
});

test('readStateFile with remove unlinks an accepted document; without remove it stays', () => {
  const file = freshPath('accepted');
  writeStateFile(file, fixture() as StateDocument);
  readStateFile(file, { remove: false, expectedMagic: '7514' });
  assert.ok(fs.existsSync(file));
  const doc = readStateFile(file, { remove: true, expectedMagic: '7514' });
  assert.equal(doc.magic, '7514');
  assert.equal(fs.existsSync(file), false);
});

test('readStateFile with remove renames a rejected document aside instead of deleting it', () => {
  const sample = fixtureText('virtlockd-sample.json');
  const cases: Array<[string, ReadonlyArray<string>, StateDocumentErrorReason, string | undefined]> = [
    ['truncated', [sample.slice(0, 500)], 'not-json', undefined],
    ['foreign magic', [sample], 'foreign-magic', '99'],
    ['invalid', [sample.replace('"fd": 21', '"fd": 11')], 'invalid', undefined],
  ];
  for (const [label, [text], reason, expectedMagic] of cases) {
    const sub = fs.mkdtempSync(path.join(dir, 'aside-'));
    const file = path.join(sub, 'virtlockd-restart-exec.json');
    fs.writeFileSync(file, text!);
    const err = readError(file, { remove: true, ...(expectedMagic ? { expectedMagic } : {}) });
    assert.equal(err.reason, reason, label);
    assert.equal(fs.existsSync(file), false, `${label}: the rejected file is still in place`);
    assert.ok(err.renamedTo?.startsWith(`${file}.rejected-`), label);
    assert.match(err.message, /\(moved aside to .*\.rejected-/);
    assert.deepEqual(fs.readdirSync(sub), [path.basename(err.renamedTo!)]);
    assert.equal(fs.readFileSync(err.renamedTo!, 'utf8'), text);
  }
  assert.equal(rejectedPathFor('/run/x.json', new Date('2026-01-02T03:04:05.678Z')), '/run/x.json.rejected-2026-01-02T03-04-05.678Z');
});

test('a concurrent reader never sees a partial document', async () => {
  const file = freshPath('concurrent');
  const stop = `${file}.stop`;
  const RESOURCES = 20_000;
  const big = (magic: string): StateDocument => {
    const doc = fixture() as StateDocument;
    doc.magic = magic;
    doc.defaultLockspace.resources = Array.from({ length: RESOURCES }, (_, i): ResourceState => {
      const name = `/var/lib/libvirt/images/guest-${i}-${magic}.qcow2`;
      return { name, path: name, fd: 1000 + i, lockHeld: true, flags: i % 4, owners: [10_000 + (i % 500)] };
    });
    return doc;
  };
  const docs = [big('1111'), big('2222')];
  writeStateFile(file, docs[0]!);
  const size = fs.statSync(file).size;
  assert.ok(size > 2 * 1024 * 1024, `document is only ${size} bytes`);

  // The reader reads and parses in a tight loop, printing one line per read, until the stop file appears.
  const reader = `
    const fs = require('fs');
    const [file, stop, expected] = process.argv.slice(1);
    const result = { reads: 0, partial: 0, magics: [] };
    while (!fs.existsSync(stop)) {
      const text = fs.readFileSync(file, 'utf8');
      result.reads++;
      try {
        const doc = JSON.parse(text);
        if (doc.defaultLockspace.resources.length !== Number(expected)) result.partial++;
        if (!result.magics.includes(doc.magic)) result.magics.push(doc.magic);
      } catch {
        result.partial++;
      }
      process.stdout.write('read\\n');
    }
    process.stdout.write('result ' + JSON.stringify(result) + '\\n');
  `;
  const child = spawn(process.execPath, ['-e', reader, file, stop, String(RESOURCES)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  let reads = 0;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    reads += chunk.split('read\n').length - 1;
  });
  const exited = once(child, 'exit');
  let running = true;
  void exited.then(() => (running = false));

  // Keep replacing the file until the reader has read it many times while writes were going on (a reader
  // that stops reading ends the loop at the deadline, and the assertion on its reads below fails).
  let writes = 0;
  const deadline = Date.now() + 60_000;
  while (running && (writes < 20 || reads < 50) && Date.now() < deadline) {
    writeStateFile(file, docs[writes % 2]!);
    writes++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  fs.writeFileSync(stop, '');
  const [code] = await within(30_000, 'the reader to stop', exited);
  assert.equal(code, 0, output.slice(-2000));
  const line = output.split('\n').find((l) => l.startsWith('result '));
  assert.ok(line, 'the reader printed no result');
  const result = JSON.parse(line.slice('result '.length)) as { reads: number; partial: number; magics: string[] };
  assert.equal(result.partial, 0, `the reader saw ${result.partial} partial documents in ${result.reads} reads`);
  assert.ok(result.reads >= 50, `only ${result.reads} reads`);
  for (const magic of result.magics) assert.ok(['1111', '2222'].includes(magic));
  assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('.tmp-')), []);
});

test('check-state: a valid document gets a summary and stays in place', () => {
  const file = freshPath('check');
  writeStateFile(file, fixture() as StateDocument);
  const report = checkStateDocument(file, { expectedMagic: '7514' });
  assert.equal(report.ok, true);
  assert.ok(fs.existsSync(file));
  assert.deepEqual(report.errors, []);
  const s = report.summary!;
  assert.equal(s.writer, 'virtlockd');
  assert.deepEqual(s.clientsByServer, { virtlockd: 6, admin: 0 });
  assert.equal(s.registeredClients, 6);
  assert.equal(s.restrictedClients, 1);
  assert.equal(s.lockspaces, 4);
  assert.equal(s.resources, 3);
  assert.equal(s.locksHeld, 3);
  assert.equal(s.sharedLocks, 1);
  assert.equal(s.exclusiveLocks, 2);
  assert.equal(s.posixLocks, 3);
  assert.equal(s.owners, 2);
  assert.deepEqual(s.fds, [5, 6, 11, 12, 16, 17, 18, 19, 20, 21, 22]);
  const text = formatCheckReport(report);
  assert.match(text, /: OK \(virtlockd \(no holdfast keys\)\)/);
  assert.match(text, /clients: 6 \(virtlockd 6, admin 0\); 6 registered, 1 restricted/);
  assert.match(text, /resources: 3; 3 locks held \(2 exclusive, 1 shared; 0 OFD, 3 POSIX\) for 2 owners/);
  assert.match(text, /fds referenced: 11 \(5, 6, 11, 12, 16, 17, 18, 19, 20, 21, 22\)/);

  const extended = checkStateDocument(path.join(FIXTURES, 'holdfast-extended.json'));
  assert.equal(extended.summary?.writer, 'holdfast');
  assert.equal(extended.summary?.registeredClients, 6);
  assert.match(formatCheckReport(extended), /holdfast schema 1, generation 4, saved 2026-11-25T12:30:53.123Z/);
});

test('check-state: a bad document is reported, not thrown, and not removed', () => {
  const truncated = plant(fixtureText('virtlockd-sample.json').slice(0, 300));
  const report = checkStateDocument(truncated);
  assert.equal(report.ok, false);
  assert.equal(report.reason, 'not-json');
  assert.equal(report.summary, undefined);
  assert.ok(fs.existsSync(truncated));
  assert.match(formatCheckReport(report), /REJECTED \(not-json\)/);

  const foreign = checkStateDocument(path.join(FIXTURES, 'virtlockd-sample.json'), { expectedMagic: String(process.pid) });
  assert.equal(foreign.reason, 'foreign-magic');
  assert.equal(checkStateDocument(freshPath('nothing')).reason, 'missing');
});

test('check-state verifyFds: every fd of a document built on this process checks out, and breakage is named', () => {
  const files = Array.from({ length: 4 }, (_, i) => {
    const file = path.join(dir, `locked-${i}.img`);
    fs.writeFileSync(file, '');
    return file;
  });
  const listenPath = path.join(dir, `listen-${process.pid}.sock`);
  const listenFd = listenUnix(listenPath, 4);
  const [clientFd, peerFd] = socketpairSeqpacket();
  const exclusiveFd = fs.openSync(files[0]!, 'r+');
  const sharedFd = fs.openSync(files[1]!, 'r+');
  const posixFd = fs.openSync(files[2]!, 'r+');
  const unlockedFd = fs.openSync(files[3]!, 'r+');
  const owned = [listenFd, clientFd, peerFd, exclusiveFd, sharedFd, posixFd, unlockedFd];
  try {
    assert.ok(ofdTryLock(exclusiveFd, 'write', 0, 1));
    assert.ok(ofdTryLock(sharedFd, 'read', 0, 1));
    assert.ok(posixTryLock(posixFd, 'write', 0, 1));
    const build = (): any => {
      const doc = fixture('holdfast-extended.json');
      doc.magic = String(process.pid);
      doc.holdfast.supervisorPid = process.pid;
      const server = doc.daemon.servers.virtlockd;
      server.services[0].socks[0].fd = listenFd;
      server.clients = [{ ...server.clients[0], sock: { ...server.clients[0].sock, fd: clientFd } }];
      delete doc.daemon.servers.admin;
      const at = (f: string, fd: number, flags: number, lockKind: 'ofd' | 'posix'): ResourceState => ({
        name: f, path: f, fd, lockHeld: true, flags, owners: [server.clients[0].privateData.ownerPid], holdfast: { acquiredAt: 1, lockKind },
      });
      doc.defaultLockspace.resources = [at(files[0]!, exclusiveFd, 0, 'ofd'), at(files[1]!, sharedFd, 1, 'ofd'), at(files[2]!, posixFd, 2, 'posix')];
      doc.lockspaces = [];
      return doc;
    };
    const check = (doc: any, requireInheritable = false): string[] => {
      const file = freshPath('verify');
      writeStateFile(file, doc);
      const report = checkStateDocument(file, { expectedMagic: String(process.pid), verifyFds: { pid: process.pid, requireInheritable } });
      assert.deepEqual(report.errors, []);
      assert.equal(report.fdsVerified, true);
      assert.equal(report.ok, report.fdProblems.length === 0);
      return report.fdProblems;
    };

    assert.deepEqual(check(build()), []);

    // a path that names the same file another way is matched by device and inode
    const roundabout = build();
    roundabout.defaultLockspace.resources[0].name = roundabout.defaultLockspace.resources[0].path = `${dir}/./locked-0.img`;
    assert.deepEqual(check(roundabout), []);

    const wrongFile = build();
    wrongFile.defaultLockspace.resources[0].name = wrongFile.defaultLockspace.resources[0].path = files[3];
    assertSomeError(check(wrongFile), new RegExp(`^fd ${exclusiveFd} \\(/defaultLockspace/resources/0/fd\\): opens .*locked-0.img, not the resource file .*locked-3.img$`));

    const notOpen = build();
    notOpen.defaultLockspace.resources[1].fd = 999_999;
    assertSomeError(check(notOpen), /^fd 999999 \(\/defaultLockspace\/resources\/1\/fd\): not open in pid \d+$/);

    const notASocket = build();
    notASocket.daemon.servers.virtlockd.clients[0].sock.fd = unlockedFd;
    assertSomeError(check(notASocket), new RegExp(`^fd ${unlockedFd} \\(/daemon/servers/virtlockd/clients/0/sock/fd\\): should be a socket, but is .*locked-3.img$`));

    const noLock = build();
    noLock.defaultLockspace.resources.push({ ...noLock.defaultLockspace.resources[0], name: files[3], path: files[3], fd: unlockedFd });
    assertSomeError(check(noLock), new RegExp(`^fd ${unlockedFd} .*: lockHeld, but the fd carries no lock instead of a OFDLCK WRITE lock$`));

    const wrongKind = build();
    wrongKind.defaultLockspace.resources[2].holdfast.lockKind = 'ofd';
    wrongKind.defaultLockspace.resources[1].flags = 0; // holds a READ lock, claims exclusive
    const problems = check(wrongKind);
    assertSomeError(problems, new RegExp(`^fd ${posixFd} .*carries POSIX .*WRITE.* instead of a OFDLCK WRITE lock$`));
    assertSomeError(problems, new RegExp(`^fd ${sharedFd} .*carries OFDLCK .*READ.* instead of a OFDLCK WRITE lock$`));

    // Node opens everything close-on-exec: none of these would survive an exec until the flag is cleared
    const inheritable = check(build(), true);
    assert.equal(inheritable.filter((p) => p.endsWith('still close-on-exec, it would not survive the exec')).length, 5);
    for (const fd of [listenFd, clientFd, exclusiveFd, sharedFd, posixFd]) setCloexec(fd, false);
    assert.deepEqual(check(build(), true), []);
    assert.match(formatCheckReport(checkStateDocument(writeAndPath(build()), { verifyFds: { pid: process.pid } })), /fds: all present and as described/);
  } finally {
    for (const fd of owned) closeFd(fd);
    fs.rmSync(listenPath, { force: true });
  }
});

function writeAndPath(doc: StateDocument): string {
  const file = freshPath('written');
  writeStateFile(file, doc);
  return file;
}
