// The names lock fds are stored under in systemd's fd store: always valid systemd fd names (printable
// ASCII, no ':', at most 255 characters), never a socket unit's name, and one per resource.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isLockStoreName, lockStoreName } from '../../src/supervisor/fd-store/fd-store';

// systemd's fdname_is_valid, restated.
const VALID_FD_NAME = /^[ -9;-~]{0,255}$/;

test('every resource gets a valid systemd fd name that is recognised as a lock fd, not a socket', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 5000 }), (lockspace, name) => {
      const fdName = lockStoreName(lockspace, name);
      assert.match(fdName, VALID_FD_NAME);
      assert.ok(isLockStoreName(fdName));
    }),
  );
  for (const socket of ['holdfastd.socket', 'holdfastd-admin.socket', 'virtlockd.socket', 'virtlockd-admin.socket', 'lock', 'admin', 'stored']) {
    assert.equal(isLockStoreName(socket), false, socket);
  }
});

test('the name depends on the lockspace and the resource, and on nothing else', () => {
  assert.equal(lockStoreName('', '/var/lib/images/a.qcow2'), lockStoreName('', '/var/lib/images/a.qcow2'));
  assert.match(lockStoreName('', '/var/lib/images/a.qcow2'), /^holdfast-lock-[0-9a-f]{32}-a\.qcow2$/);
  // The same file name in another lockspace, or a path that reads the same once joined, is another resource.
  const names = new Set([
    lockStoreName('', '/ls/vol'),
    lockStoreName('/ls', 'vol'),
    lockStoreName('/other', 'vol'),
    lockStoreName('', 'vol'),
  ]);
  assert.equal(names.size, 4);
  // A name with a ':' or non-ASCII characters keeps a readable, valid tail.
  assert.match(lockStoreName('', '/images/vm:1 disk é.img'), /^holdfast-lock-[0-9a-f]{32}-vm_1_disk__\.img$/);
});
