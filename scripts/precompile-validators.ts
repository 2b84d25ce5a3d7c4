// Build step: writes every ajv validator holdfast defines as standalone JavaScript next to the compiled
// code (see src/shared/platform/compiled-validator.ts), so no process compiles a schema at start-up.
import Ajv from 'ajv';
import standaloneCode from 'ajv/dist/standalone';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PRECOMPILED_DIR, validatorDefinitions } from '../src/shared/platform/compiled-validator';
// The modules that define validators; loading them registers their definitions.
import '../src/supervisor/config/validate-config';
import '../src/shared/custody/messages';
import '../src/supervisor/upgrade/state-schema';
import '../src/supervisor/fd-store/journal';
import '../src/shared/protocol/operations-program';

fs.rmSync(PRECOMPILED_DIR, { recursive: true, force: true });
fs.mkdirSync(PRECOMPILED_DIR, { recursive: true });
const written: string[] = [];
for (const { name, schema, options, fingerprint } of validatorDefinitions()) {
  const ajv = new Ajv({ ...options, code: { ...options.code, source: true } });
  const code = standaloneCode(ajv, ajv.compile(schema));
  const stamp = `\nmodule.exports = { fingerprint: ${JSON.stringify(fingerprint)}, validate: module.exports };\n`;
  fs.writeFileSync(path.join(PRECOMPILED_DIR, `${name}.js`), code + stamp);
  written.push(name);
}
process.stdout.write(`precompiled validators: ${written.join(', ')}\n`);
