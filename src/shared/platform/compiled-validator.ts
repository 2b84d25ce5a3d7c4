// One ajv validator per schema, compiled ahead of time. Compiling holdfast's schemas takes about half a
// second of CPU, and every process that starts pays it: the supervisor's new image during an upgrade, each
// new worker, `--check-state`. So the build turns each schema into plain JavaScript once (ajv's standalone
// code, see precompile-validators.ts) and processes only load it. A precompiled validator is used only if
// it was made from exactly this schema, these options and this ajv; otherwise (a build that skipped the
// step, a hand-edited schema) ajv compiles at first use, as it always could.
import type { Options, ValidateFunction } from 'ajv';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where the build writes the generated validators, one CommonJS module per name. */
export const PRECOMPILED_DIR = path.join(__dirname, 'precompiled');

/** A validator known to this process, as the build step needs it. */
export interface ValidatorDefinition {
  name: string;
  schema: object;
  options: Options;
  /** Identifies schema + options + ajv version; stamped into the generated module. */
  fingerprint: string;
}

const definitions = new Map<string, Omit<ValidatorDefinition, 'fingerprint'>>();

/** Every validator defined so far (the build step loads the defining modules, then lists them). */
export function validatorDefinitions(): ValidatorDefinition[] {
  return [...definitions.values()].map((d) => ({ ...d, fingerprint: fingerprintOf(d.schema, d.options) }));
}

/**
 * A validator for `schema`, loaded ahead-of-time compiled when the build made one, else compiled by ajv
 * on first call. Behaves as ajv's own: a type guard with `errors` set after a failed call.
 */
export function compiledValidator<T>(name: string, schema: object, options: Options): ValidateFunction<T> {
  if (!/^[a-z][a-z0-9-]*$/.test(name) || definitions.has(name)) throw new Error(`bad or duplicate validator name ${name}`);
  definitions.set(name, { name, schema, options });

  // Fingerprinted and loaded at first use: a process pays only for the validators it calls.
  let compiled: ValidateFunction<T> | null = null;
  const validate = ((data: unknown): data is T => {
    compiled ??= loadPrecompiled<T>(name, fingerprintOf(schema, options)) ?? compileNow<T>(schema, options);
    const ok = compiled(data);
    validate.errors = compiled.errors;
    return ok;
  }) as ValidateFunction<T>;
  validate.errors = null;
  return validate;
}

/** The fallback; ajv itself is loaded only then (its load alone costs a start-up about 20 ms). */
function compileNow<T>(schema: object, options: Options): ValidateFunction<T> {
  const Ajv = (require('ajv') as typeof import('ajv')).default;
  return new Ajv(options).compile<T>(schema);
}

function fingerprintOf(schema: object, options: Options): string {
  const ajvVersion = (require('ajv/package.json') as { version: string }).version;
  return createHash('sha256').update(JSON.stringify({ schema, options, ajvVersion })).digest('hex');
}

function loadPrecompiled<T>(name: string, fingerprint: string): ValidateFunction<T> | null {
  const file = path.join(PRECOMPILED_DIR, `${name}.js`);
  if (!fs.existsSync(file)) return null;
  const generated = require(file) as { fingerprint?: string; validate?: ValidateFunction<T> };
  return generated.fingerprint === fingerprint && typeof generated.validate === 'function' ? generated.validate : null;
}
