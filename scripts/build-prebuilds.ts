// Builds the native addon and the signal guard for every architecture the package ships
// (prebuilds/linux-<arch>/), so that `npm install` of the package needs no compiler: node-gyp-build loads
// them, and builds from source only where none fits. N-API, so one build serves every supported Node.
//
// Each architecture is built in a scratch copy of the native sources, never in the tree's own build/ (which
// a cross build would leave holding another architecture's binaries). arm64 is cross-compiled with Debian's
// gcc-aarch64-linux-gnu; HOLDFAST_PREBUILD_ARCHES (e.g. "x64") narrows the list on a machine without it.
// npm pack runs this before the build proper, whose man pages load the command lines, and so the addon.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { arch as hostArch, tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const NATIVE_SOURCES = ['package.json', 'binding.gyp', 'src/shared/platform/native'];

/** The cross toolchain prefix for each architecture not built natively (Debian's cross compiler names). */
const CROSS_PREFIX: Record<string, string> = { arm64: 'aarch64-linux-gnu-', x64: 'x86_64-linux-gnu-' };

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function buildFor(arch: string): void {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (arch !== hostArch()) {
    const prefix = CROSS_PREFIX[arch];
    if (prefix === undefined || !onPath(`${prefix}gcc`)) {
      throw new Error(`no cross compiler for ${arch} (${prefix ?? '?'}gcc): install Debian's gcc-aarch64-linux-gnu, or set HOLDFAST_PREBUILD_ARCHES=${hostArch()}`);
    }
    Object.assign(env, { CC: `${prefix}gcc`, CXX: `${prefix}g++`, LINK: `${prefix}gcc`, AR: `${prefix}ar`, PREBUILD_STRIP_BIN: `${prefix}strip` });
  }
  const scratch = mkdtempSync(join(tmpdir(), `holdfast-prebuild-${arch}-`));
  try {
    for (const entry of NATIVE_SOURCES) cpSync(join(ROOT, entry), join(scratch, entry), { recursive: true });
    const prebuildify = join(ROOT, 'node_modules', 'prebuildify', 'bin.js');
    // --out: the prebuilds land in the tree; --strip: no symbols (the sources are in the package).
    const run = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', `--arch=${arch}`, `--out=${ROOT}`], { cwd: scratch, env, stdio: 'inherit' });
    if (run.status !== 0) throw new Error(`prebuildify for ${arch} failed (exit ${run.status})`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const dir = join(ROOT, 'prebuilds', `linux-${arch}`);
  for (const file of ['holdfast.node', 'signal_guard.so']) {
    if (!existsSync(join(dir, file))) throw new Error(`prebuildify left no ${file} in ${dir}`);
  }
}

// prebuildify runs node-gyp from PATH: npm puts its own there for scripts.
if (process.env.PREBUILD_NODE_GYP === undefined && !onPath('node-gyp')) {
  throw new Error('node-gyp is not on PATH: run this as `npm run prebuilds` (npm puts its node-gyp there)');
}
const arches = (process.env.HOLDFAST_PREBUILD_ARCHES ?? 'x64 arm64').split(/[\s,]+/).filter((a) => a !== '');
rmSync(join(ROOT, 'prebuilds'), { recursive: true, force: true });
for (const arch of arches) buildFor(arch);
