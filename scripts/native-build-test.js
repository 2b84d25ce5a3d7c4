// The check node-gyp-build's install step runs (package.json "prebuild.test") before deciding to compile:
// the addon it would load (build/Release, else prebuilds/linux-<arch>/) must load and, in a source tree,
// must not be older than a native source, so `npm run install` after a C change rebuilds. An installed
// package (no tsconfig.json: it is not packed) takes its prebuild as shipped, whatever times the unpacking
// gave its files. Plain JavaScript: it runs before the TypeScript is built.
'use strict';
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const nodeGypBuild = require('node-gyp-build');

const root = join(__dirname, '..');
const addonPath = nodeGypBuild.resolve(root);
if (existsSync(join(root, 'tsconfig.json'))) {
  const builtAt = statSync(addonPath).mtimeMs;
  const nativeDir = join(root, 'src', 'shared', 'platform', 'native');
  const sources = [join(root, 'binding.gyp'), ...readdirSync(nativeDir).map((f) => join(nativeDir, f))];
  const newer = sources.filter((f) => statSync(f).mtimeMs > builtAt);
  if (newer.length > 0) throw new Error(`${addonPath} is older than ${newer.join(', ')}`);
}
require(addonPath);
