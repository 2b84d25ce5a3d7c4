// Version numbers: holdfast's own (from package.json) and the libvirt release whose virtlockd holdfast
// mimics, for admin-protocol answers such as connectGetLibVersion.

import fs from 'node:fs';
import path from 'node:path';

/** Finds holdfast's package.json by walking up from this file (src/shared in the tree, dist/src/shared when built). */
function readPackageVersion(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate)) {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'holdfast' && typeof pkg.version === 'string') return pkg.version;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`holdfast's package.json not found above ${__dirname}`);
    dir = parent;
  }
}

/** holdfast's version, e.g. "0.1.0". */
export const HOLDFAST_VERSION: string = readPackageVersion();

/** The libvirt release whose virtlockd holdfast behaves like (Debian 12: 9.0.0). */
export const LIBVIRT_VERSION = '9.0.0';

/** {@link LIBVIRT_VERSION} encoded as libvirt does on the wire: major * 1,000,000 + minor * 1,000 + micro. */
export const LIBVIRT_VERSION_NUMBER = 9_000_000;

/** The RPC program number of virtlockd's lock protocol, which holdfast serves: here so that -V can name it
 * without the supervisor loading the wire protocol (a test checks it is lock-program.ts's LOCK_PROGRAM). */
export const LOCK_PROGRAM_NUMBER = 0x0ea7beef;
