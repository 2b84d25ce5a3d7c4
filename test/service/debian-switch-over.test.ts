// systemd/README.md's switch-over from virtlockd, step by step, checked with `systemd-analyze verify` against
// Debian's own libvirt units (taken from this release's packages with `apt-get download`, never installed:
// their maintainer scripts would start libvirt's daemons). libvirtd.service has Requires=virtlockd.socket,
// so virtlockd.socket must stay an ordinary unit throughout: holdfastd serves behind it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HOLDFASTD } from '../fixtures/holdfast-daemon';

const SYSTEMD_DIR = join(__dirname, '..', '..', '..', 'systemd');
// The built man pages, which the units' Documentation= names: verify checks that `man` finds each one.
// A trailing colon: then the system's own pages (libvirtd(8), virtlockd(8)) too.
const MANPATH = `${join(__dirname, '..', '..', 'man')}:`;
const DROP_IN = join('virtlockd.service.d', 'holdfast.conf');
// Where Debian's libvirt units may be: libvirt-daemon-system (Debian 12), or split into per-daemon packages.
const UNIT_PACKAGES = ['libvirt-daemon-system', 'libvirt-daemon-lock', 'libvirt-daemon-log', 'libvirt-daemon'];
const LIBVIRT_UNITS = ['libvirtd.service', 'virtlockd.service', 'virtlockd.socket', 'virtlockd-admin.socket'];

let work = '';
let debianUnits = '';

/** Downloads and unpacks the packages that hold libvirt's units; returns the directory of the unit files. */
function debianLibvirtUnits(into: string): string {
  const known = UNIT_PACKAGES.filter((pkg) => spawnSync('apt-cache', ['show', '--no-all-versions', pkg], { stdio: 'ignore' }).status === 0);
  assert.ok(known.length > 0, 'apt-cache knows none of libvirt\'s packages: run `apt-get update` first');
  const download = spawnSync('apt-get', ['download', '-qq', ...known], { cwd: into, encoding: 'utf8' });
  assert.equal(download.status, 0, `apt-get download ${known.join(' ')}: ${download.stderr}`);
  const root = join(into, 'root');
  for (const deb of readdirSync(into).filter((f) => f.endsWith('.deb'))) {
    const unpack = spawnSync('dpkg-deb', ['-x', join(into, deb), root], { encoding: 'utf8' });
    assert.equal(unpack.status, 0, `dpkg-deb -x ${deb}: ${unpack.stderr}`);
  }
  const dir = ['lib/systemd/system', 'usr/lib/systemd/system'].map((d) => join(root, d)).find((d) => LIBVIRT_UNITS.every((u) => existsSync(join(d, u))));
  assert.ok(dir !== undefined, `${LIBVIRT_UNITS.join(', ')} are not in ${known.join(', ')}`);
  return dir;
}

/** A fresh unit directory: Debian's libvirt units as shipped (as in /lib/systemd/system). */
function hostWithLibvirt(): string {
  const dir = mkdtempSync(join(work, 'host-'));
  for (const unit of readdirSync(debianUnits)) copyFileSync(join(debianUnits, unit), join(dir, unit));
  return dir;
}

function verify(dir: string, units: string[]): { status: number | null; output: string } {
  const run = spawnSync('systemd-analyze', ['verify', ...units.map((u) => join(dir, u))], { encoding: 'utf8', cwd: dir, env: { ...process.env, MANPATH } });
  if (run.error) assert.fail(`systemd-analyze: ${run.error.message} (install Debian's systemd package)`);
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

function assertClean(dir: string, units: string[]): void {
  const result = verify(dir, units);
  assert.equal(result.output, '', result.output);
  assert.equal(result.status, 0);
}

/** Step 1 of README A: the drop-in installed beside virtlockd.service, its ExecStart naming `exec`. */
function installDropIn(dir: string, exec = `${process.execPath} ${HOLDFASTD}`): void {
  const shipped = readFileSync(join(SYSTEMD_DIR, DROP_IN), 'utf8');
  assert.match(shipped, /^ExecStart=holdfastd \$VIRTLOCKD_ARGS$/m);
  mkdirSync(join(dir, 'virtlockd.service.d'), { recursive: true });
  // The shipped drop-in names a bare holdfastd (found where `npm install -g` puts it); this machine runs the
  // built one instead. Nothing else differs.
  writeFileSync(join(dir, DROP_IN), shipped.replace(/^ExecStart=holdfastd /m, `ExecStart=${exec} `));
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'holdfast-debian-units-'));
  debianUnits = debianLibvirtUnits(work);
});

after(() => rmSync(work, { recursive: true, force: true }));

test('Debian\'s libvirtd.service requires virtlockd.socket, which virtlockd.socket orders Before= libvirtd', () => {
  const libvirtd = readFileSync(join(debianUnits, 'libvirtd.service'), 'utf8');
  assert.match(libvirtd, /^Requires=virtlockd\.socket$/m);
  assert.match(readFileSync(join(debianUnits, 'virtlockd.socket'), 'utf8'), /^Before=libvirtd\.service$/m);
  // The README says so, and not the reverse.
  const readme = readFileSync(join(SYSTEMD_DIR, 'README.md'), 'utf8');
  assert.match(readme, /`Requires=virtlockd\.socket`/);
  assert.doesNotMatch(readme, /order themselves after `?virtlockd\.socket/);
});

test('before the switch: Debian\'s units verify clean as shipped', () => {
  assertClean(hostWithLibvirt(), LIBVIRT_UNITS);
});

test('step 1, the drop-in: libvirtd and virtlockd\'s units verify clean, and virtlockd.service runs holdfastd', () => {
  const dir = hostWithLibvirt();
  // Pointed at a missing binary, verify names it: the drop-in's ExecStart is the one systemd would run.
  installDropIn(dir, '/nonexistent/holdfastd');
  const broken = verify(dir, ['virtlockd.service']);
  assert.notEqual(broken.status, 0);
  assert.match(broken.output, /\/nonexistent\/holdfastd/);
  installDropIn(dir);
  assertClean(dir, LIBVIRT_UNITS);
});

test('going back: with the drop-in removed, Debian\'s units verify clean again', () => {
  const dir = hostWithLibvirt();
  installDropIn(dir);
  rmSync(join(dir, 'virtlockd.service.d'), { recursive: true });
  assertClean(dir, LIBVIRT_UNITS);
});

test('masking virtlockd.socket would stop libvirtd from starting, and the README never says to', () => {
  const dir = hostWithLibvirt();
  rmSync(join(dir, 'virtlockd.socket'));
  symlinkSync('/dev/null', join(dir, 'virtlockd.socket'));
  const masked = verify(dir, ['libvirtd.service']);
  assert.notEqual(masked.status, 0);
  assert.match(masked.output, /virtlockd\.socket is masked/);
  assert.doesNotMatch(readFileSync(join(SYSTEMD_DIR, 'README.md'), 'utf8'), /systemctl mask[^\n]*virtlockd\.socket/);
});
