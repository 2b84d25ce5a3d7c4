// Default paths: virtlockd's for root and for other users, and holdfastd names under --run-dir.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { defaultPaths } from '../../src/shared/platform/paths';

test('root: virtlockd system paths (pid and state file directly in /run)', () => {
  assert.deepEqual(defaultPaths({ uid: 0, env: { XDG_RUNTIME_DIR: '/run/user/0' } }), {
    socket: '/run/libvirt/virtlockd-sock',
    adminSocket: '/run/libvirt/virtlockd-admin-sock',
    stateFile: '/run/virtlockd-restart-exec.json',
    pidFile: '/run/virtlockd.pid',
    runDir: '/run/libvirt',
  });
});

test('non-root: everything in $XDG_RUNTIME_DIR/libvirt', () => {
  assert.deepEqual(defaultPaths({ uid: 1000, env: { XDG_RUNTIME_DIR: '/run/user/1000', HOME: '/home/u' } }), {
    socket: '/run/user/1000/libvirt/virtlockd-sock',
    adminSocket: '/run/user/1000/libvirt/virtlockd-admin-sock',
    stateFile: '/run/user/1000/libvirt/virtlockd-restart-exec.json',
    pidFile: '/run/user/1000/libvirt/virtlockd.pid',
    runDir: '/run/user/1000/libvirt',
  });
});

test('non-root without XDG_RUNTIME_DIR: the cache dir, as glib falls back', () => {
  assert.equal(defaultPaths({ uid: 1000, env: { XDG_CACHE_HOME: '/var/cache/u', HOME: '/home/u' } }).socket, '/var/cache/u/libvirt/virtlockd-sock');
  assert.equal(defaultPaths({ uid: 1000, env: { XDG_RUNTIME_DIR: '', HOME: '/home/u' } }).pidFile, '/home/u/.cache/libvirt/virtlockd.pid');
  assert.equal(defaultPaths({ uid: 1000, env: {} }).runDir, path.join(os.homedir(), '.cache', 'libvirt'));
});

test('--run-dir: holdfastd names under that directory, for root and non-root alike', () => {
  for (const uid of [0, 1000]) {
    assert.deepEqual(defaultPaths({ uid, runDir: '/tmp/hf', env: { XDG_RUNTIME_DIR: '/run/user/1000' } }), {
      socket: '/tmp/hf/holdfastd-sock',
      adminSocket: '/tmp/hf/holdfastd-admin-sock',
      stateFile: '/tmp/hf/holdfastd-restart-exec.json',
      pidFile: '/tmp/hf/holdfastd.pid',
      runDir: '/tmp/hf',
    });
  }
});

test('--run-dir ./run (the README quick start) is made absolute against the cwd', () => {
  const p = defaultPaths({ uid: 1000, runDir: './run', env: {} });
  assert.equal(p.runDir, path.join(process.cwd(), 'run'));
  assert.equal(p.socket, path.join(process.cwd(), 'run', 'holdfastd-sock'));
  for (const v of Object.values(p)) assert.ok(path.isAbsolute(v), v);
});
