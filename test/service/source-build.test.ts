// A clean clone has no prebuilds (they are made when the package is packed), so its `npm ci` compiles the
// addon. That must work as any user, with only the npm registry in reach: node-gyp downloads Node's
// headers from nodejs.org unless told where they are, and the install step points it at the headers the
// running Node ships (<prefix>/include/node). Here the download URL is a closed port, so a download fails.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { test } from 'node:test';

const REPO = join(__dirname, '..', '..', '..');
const NOT_SOURCES = new Set(['node_modules', 'dist', 'build', 'prebuilds', 'run', '.git', '.ci']);
const NOBODY = 65534;

test('a clean tree builds its addon from source as nobody, without downloading Node headers', (t) => {
  const work = mkdtempSync(join(tmpdir(), 'holdfast-source-build-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  chmodSync(work, 0o755);
  const tree = join(work, 'tree');
  cpSync(REPO, tree, { recursive: true, filter: (src) => !NOT_SOURCES.has(relative(REPO, src).split(sep)[0]!) });
  const home = join(work, 'home');
  mkdirSync(home);
  for (const dir of [tree, home]) spawnSync('chown', ['-R', `${NOBODY}:${NOBODY}`, dir]);
  chownSync(work, NOBODY, NOBODY);
  symlinkSync(join(REPO, 'node_modules'), join(tree, 'node_modules'));

  const run = spawnSync(
    'setpriv',
    [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'env', '-i', `HOME=${home}`, `PATH=${dirname(process.execPath)}:/usr/bin:/bin`,
      'npm_config_disturl=http://127.0.0.1:9/', 'npm_config_update_notifier=false', 'npm', 'run', 'install'],
    { cwd: tree, encoding: 'utf8', timeout: 300_000, killSignal: 'SIGKILL' },
  );
  assert.equal(run.status, 0, `npm run install failed:\n${run.stdout}\n${run.stderr}`);
  assert.ok(existsSync(join(tree, 'build', 'Release', 'holdfast.node')), 'the addon was built');
  assert.doesNotMatch(run.stdout + run.stderr, /127\.0\.0\.1:9/, 'no header download was tried');
});
