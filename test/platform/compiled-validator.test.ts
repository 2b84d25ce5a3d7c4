// Ahead-of-time compiled validators: the build wrote one module per schema, each stamped with the
// fingerprint of the schema it was made from, and each gives the same verdicts and errors as ajv compiling
// that schema now, on real documents and on broken ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Ajv from 'ajv';
import fs from 'node:fs';
import path from 'node:path';
import { PRECOMPILED_DIR, validatorDefinitions } from '../../src/shared/platform/compiled-validator';
import { isSupervisorMessage, isWorkerMessage } from '../../src/shared/custody/messages';
import { validateStateDocument } from '../../src/supervisor/upgrade/state-schema';
import { resolveSettings } from '../../src/supervisor/config/validate-config';
import { readJournal } from '../../src/supervisor/fd-store/journal';
import { decodeStatusRet } from '../../src/shared/protocol/operations-program';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'state-documents');
// Touch each module so that its validators are defined (imports alone could be elided).
void [isSupervisorMessage, isWorkerMessage, validateStateDocument, resolveSettings, readJournal, decodeStatusRet];

test('the build precompiled every validator from the schema now in the code', () => {
  const names = validatorDefinitions().map((d) => d.name).sort();
  assert.deepEqual(names, [
    'custody-record',
    'fd-store-journal',
    'holdfast-action-reply',
    'holdfast-clients-reply',
    'holdfast-cluster-reply',
    'holdfast-locks-reply',
    'holdfast-lockspaces-reply',
    'holdfast-set-log-level-reply',
    'holdfast-status-reply',
    'holdfast-who-reply',
    'settings',
    'state-document',
    'supervisor-message',
    'worker-message',
  ]);
  for (const { name, fingerprint } of validatorDefinitions()) {
    const generated = require(path.join(PRECOMPILED_DIR, `${name}.js`)) as { fingerprint: string; validate: unknown };
    assert.equal(generated.fingerprint, fingerprint, `${name}: precompiled from another schema; run npm run build`);
    assert.equal(typeof generated.validate, 'function');
  }
});

test('precompiled and freshly compiled validators agree on real and broken documents', () => {
  const definition = validatorDefinitions().find((d) => d.name === 'state-document');
  assert.ok(definition);
  const fresh = new Ajv(definition.options).compile(definition.schema);
  const precompiled = (require(path.join(PRECOMPILED_DIR, 'state-document.js')) as { validate: typeof fresh }).validate;
  const samples: unknown[] = [{}, null, 'x'];
  for (const file of fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json'))) {
    const doc = JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8'));
    samples.push(doc, { ...doc, magic: 'not a pid' }, { ...doc, lockspaces: 'none' }, { ...doc, extra: 1 });
  }
  let valid = 0;
  for (const sample of samples) {
    const a = fresh(sample);
    const b = precompiled(sample);
    assert.equal(b, a, JSON.stringify(sample).slice(0, 80));
    assert.deepEqual(precompiled.errors ?? null, fresh.errors ?? null);
    if (a) valid++;
  }
  assert.ok(valid >= 3, 'the real documents validate');
  assert.ok(valid < samples.length, 'the broken ones do not');
});
