// package.json's install step: node-gyp-build loads a prebuilt addon that fits, else compiles one. To compile,
// node-gyp needs Node's headers, and by default downloads them from nodejs.org (a host with only the npm
// registry in reach fails there). Node's binary distributions ship those headers beside the binary
// (<prefix>/include/node), and so does Debian's libnode-dev (/usr/include/node): use them where they are.
// Plain JavaScript: it runs before the TypeScript is built.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');

const env = { ...process.env };
const prefix = dirname(dirname(process.execPath));
if (!env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node.h'))) env.npm_config_nodedir = prefix;

const result = spawnSync(process.execPath, [require.resolve('node-gyp-build/bin.js')], { stdio: 'inherit', env });
if (result.error) throw result.error;
process.exit(result.status ?? 1);
