// The unit files in systemd/ pass `systemd-analyze verify`: holdfast's own units, and the drop-in that runs
// holdfastd under virtlockd's units. Verified as copies whose ExecStart names the built daemon (the shipped
// units name a bare `holdfastd`, found where `npm install -g` puts it, which this machine need not have);
// nothing else in the copies differs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HOLDFASTD } from '../fixtures/holdfast-daemon';

const UNITS_DIR = join(__dirname, '..', '..', '..', 'systemd');
// The built man pages, which the units' Documentation= names: verify checks that `man` finds each one.
// A trailing colon: then the system's own pages (libvirtd(8), virtlockd(8)) too.
const MANPATH = `${join(__dirname, '..', '..', 'man')}:`;
const DROP_IN = join('virtlockd.service.d', 'holdfast.conf');
const SHIPPED_EXEC = /^ExecStart=holdfastd( \$VIRTLOCKD_ARGS)?$/m;
// libvirt's units, when this host has them (Debian's libvirt-daemon-system).
const LIBVIRT_UNITS = '/lib/systemd/system';

function verify(dir: string, units: string[]): { status: number | null; output: string } {
  const run = spawnSync('systemd-analyze', ['verify', ...units.map((u) => join(dir, u))], { encoding: 'utf8', cwd: dir, env: { ...process.env, MANPATH } });
  if (run.error) assert.fail(`systemd-analyze: ${run.error.message} (install Debian's systemd package)`);
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

/** Copies a shipped unit into `dir`, its ExecStart pointed at the built daemon (or at `exec`). */
function copyWithBuiltDaemon(from: string, to: string, exec = `${process.execPath} ${HOLDFASTD}`): void {
  const text = readFileSync(from, 'utf8');
  assert.match(text, SHIPPED_EXEC, `${from}: ExecStart is not the bare holdfastd`);
  const copy = text.replace(SHIPPED_EXEC, (_line, args: string | undefined) => `ExecStart=${exec}${args ?? ''}`);
  // The only change: every other line is as shipped.
  assert.equal(copy.split('\n').filter((l) => !text.split('\n').includes(l)).length, 1);
  writeFileSync(to, copy);
}

function withDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-units-'));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('holdfastd.service, holdfastd.socket and holdfastd-admin.socket verify clean', () => {
  withDir((dir) => {
    const units = readdirSync(UNITS_DIR).filter((f) => /\.(service|socket)$/.test(f)).sort();
    assert.deepEqual(units, ['holdfastd-admin.socket', 'holdfastd.service', 'holdfastd.socket']);
    for (const unit of units) {
      if (unit.endsWith('.service')) copyWithBuiltDaemon(join(UNITS_DIR, unit), join(dir, unit));
      else copyFileSync(join(UNITS_DIR, unit), join(dir, unit));
    }
    const result = verify(dir, units);
    assert.equal(result.output, '', result.output);
    assert.equal(result.status, 0);
  });
});

test('the virtlockd.service drop-in verifies clean on virtlockd\'s units, and is what sets ExecStart', () => {
  withDir((dir) => {
    const units = ['virtlockd.service', 'virtlockd.socket', 'virtlockd-admin.socket'];
    if (units.every((u) => existsSync(join(LIBVIRT_UNITS, u)))) {
      for (const unit of units) copyFileSync(join(LIBVIRT_UNITS, unit), join(dir, unit));
    } else {
      // Without libvirt-daemon-system: stand-ins with what the drop-in relies on from libvirt's units
      // (names, socket paths, the VIRTLOCKD_ARGS environment file, a plain ExecStart of virtlockd).
      writeFileSync(join(dir, 'virtlockd.service'), [
        '[Unit]', 'Description=stand-in for libvirt\'s virtlockd.service', 'Requires=virtlockd.socket', 'Requires=virtlockd-admin.socket',
        'Before=libvirtd.service', '', '[Service]', 'Environment=VIRTLOCKD_ARGS=', 'EnvironmentFile=-/etc/default/virtlockd',
        'ExecStart=/usr/sbin/virtlockd $VIRTLOCKD_ARGS', 'ExecReload=/bin/kill -USR1 $MAINPID', '',
        '[Install]', 'WantedBy=multi-user.target', 'Also=virtlockd.socket', 'Also=virtlockd-admin.socket', '',
      ].join('\n'));
      writeFileSync(join(dir, 'virtlockd.socket'), '[Unit]\nDescription=stand-in\n\n[Socket]\nListenStream=/run/libvirt/virtlockd-sock\nSocketMode=0600\n\n[Install]\nWantedBy=sockets.target\n');
      writeFileSync(join(dir, 'virtlockd-admin.socket'), '[Unit]\nDescription=stand-in\nBindsTo=virtlockd.socket\nAfter=virtlockd.socket\n\n[Socket]\nListenStream=/run/libvirt/virtlockd-admin-sock\nService=virtlockd.service\nSocketMode=0600\n\n[Install]\nWantedBy=sockets.target\n');
    }
    mkdirSync(join(dir, 'virtlockd.service.d'));
    // The drop-in is read (from beside the unit, as from /etc/systemd/system) and its ExecStart is the one
    // systemd would run: pointed at a missing binary, verify names that binary.
    copyWithBuiltDaemon(join(UNITS_DIR, DROP_IN), join(dir, DROP_IN), '/nonexistent/holdfastd');
    const broken = verify(dir, units);
    assert.notEqual(broken.status, 0);
    assert.match(broken.output, /\/nonexistent\/holdfastd/);
    // With the built daemon: clean (so the empty ExecStart= did clear virtlockd's: a second one for a
    // Type=notify service would be an error).
    copyWithBuiltDaemon(join(UNITS_DIR, DROP_IN), join(dir, DROP_IN));
    const result = verify(dir, units);
    assert.equal(result.output, '', result.output);
    assert.equal(result.status, 0);
  });
});
