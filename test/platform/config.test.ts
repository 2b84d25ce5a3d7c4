// Config: the virtlockd.conf-syntax parser, the settings schema and loadConfig, on real files in a temp dir.
// Expected syntax-error messages and lines are the ones Debian's virtlockd 9.0 prints for the same files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConf, type ConfEntry } from '../../src/supervisor/config/conf-parser';
import { ConfigError } from '../../src/supervisor/config/config-error';
import { loadConfig } from '../../src/supervisor/config/load-config';
import { CLUSTER_KEYS, SETTINGS_SCHEMA, SETTING_KEYS, VIRTLOCKD_KEYS, type HoldfastConfig } from '../../src/supervisor/config/schema';
import { suggestKey } from '../../src/supervisor/config/validate-config';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-config-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
let counter = 0;

/** Writes `text` to a fresh file in the temp dir and returns its path. */
function writeConf(text: string, name = `c${++counter}.conf`): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** Parses a real file through the parser. */
function parseFile(text: string): ConfEntry[] {
  const file = writeConf(text);
  return parseConf(fs.readFileSync(file, 'utf8'), file);
}

/** The ConfigError message for `text`, with the temp path replaced by "F". */
function parseError(text: string): string {
  const file = writeConf(text);
  try {
    parseConf(fs.readFileSync(file, 'utf8'), file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.message.split(file).join('F');
  }
  assert.fail(`no error for ${JSON.stringify(text)}`);
}

/** The ConfigError message loadConfig gives for a file, with the temp path replaced by "F". */
function loadError(text: string, overrides = {}): string {
  const file = writeConf(text);
  try {
    loadConfig(file, overrides, { uid: 0, env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.message.split(file).join('F');
  }
  assert.fail(`no error for ${JSON.stringify(text)}`);
}

const ROOT_DEFAULTS: HoldfastConfig = {
  log_level: 3,
  log_filters: '',
  log_outputs: '',
  max_clients: 1024,
  admin_max_clients: 5000,
  socket_path: '/run/libvirt/virtlockd-sock',
  admin_socket_path: '/run/libvirt/virtlockd-admin-sock',
  state_file: '/run/virtlockd-restart-exec.json',
  pid_file: '/run/virtlockd.pid',
  worker_ready_timeout_ms: 5000,
  worker_stall_timeout_ms: 5000,
  owner_kill_term_grace_ms: 1600,
  owner_kill_give_up_ms: 3000,
  max_frame_bytes_per_client: 8388608,
  max_frame_bytes_total: 67108864,
  frame_deadline_ms: 30000,
  log_format: 'json',
  // Inert without cluster_etcd_endpoints (cluster-config.test.ts); the other cluster_* keys stay absent.
  cluster_lease_ttl_ms: 10000,
  cluster_key_prefix: '/holdfast/',
};

// ---- parser: value kinds ----

test('parser: integers, signed and unsigned; 0 and 1 serve as booleans', () => {
  const entries = parseFile('a = 1\nb = -42\nc = +7\nd = 0\ne=-0\nbig = 9007199254740991\n');
  assert.deepEqual(
    entries.map((e) => [e.key, e.value]),
    [['a', 1], ['b', -42], ['c', 7], ['d', 0], ['e', 0], ['big', 9007199254740991]],
  );
  assert.ok(Object.is(entries[4]!.value, 0), '-0 is normalised to 0');
});

test('parser: strings in double, single and triple quotes, taken literally (virconf has no escapes)', () => {
  const entries = parseFile(
    [
      'a = "hello world"',
      "b = 'say \"hi\"'",
      'c = "it\'s"',
      'd = "back\\slash\\n"',
      'e = "a # not a comment"',
      'f = ""',
      'g = """line one',
      "line 'two' \"quoted\"",
      'line three"""',
      'h = "after"',
    ].join('\n') + '\n',
  );
  assert.deepEqual(
    entries.map((e) => [e.key, e.value, e.line]),
    [
      ['a', 'hello world', 1],
      ['b', 'say "hi"', 2],
      ['c', "it's", 3],
      ['d', 'back\\slash\\n', 4],
      ['e', 'a # not a comment', 5],
      ['f', '', 6],
      ['g', "line one\nline 'two' \"quoted\"\nline three", 7],
      ['h', 'after', 10],
    ],
  );
});

test('parser: lists, over several lines, nested, empty, with a trailing comma', () => {
  const entries = parseFile(
    ['one = [ "a", "b" ]', 'many = [', '  "x",', '', '  \'y\'', '  , 3,', ']', 'nested = [ 1, [ 2, [] ], ]', 'empty = []', 'last = 1'].join('\n'),
  );
  assert.deepEqual(
    entries.map((e) => [e.key, e.value, e.line]),
    [
      ['one', ['a', 'b'], 1],
      ['many', ['x', 'y', 3], 2],
      ['nested', [1, [2, []]], 8],
      ['empty', [], 9],
      ['last', 1, 10],
    ],
  );
});

test('parser: comments, blank lines, indentation, ";" separators, CRLF, no final newline', () => {
  const entries = parseFile(
    '# leading comment\n\n   \t\n  log_level = 3   # trailing comment\n#log_outputs = "broken [ syntax"\nA9_z=1;b = 2 ;  c = 3; # end\r\nd = "x"\r\n\te = 4',
  );
  assert.deepEqual(
    entries.map((e) => [e.key, e.value, e.line]),
    [
      ['log_level', 3, 4],
      ['A9_z', 1, 6],
      ['b', 2, 6],
      ['c', 3, 6],
      ['d', 'x', 7],
      ['e', 4, 8],
    ],
  );
});

test('parser: an empty or blank-only file has no entries', () => {
  assert.deepEqual(parseFile(''), []);
  assert.deepEqual(parseFile('\n\n  \n'), []);
  assert.deepEqual(parseFile('# only\n# comments'), []);
});

test('parser: duplicates are kept in order (the schema layer rejects them)', () => {
  assert.deepEqual(parseFile('a = 1\na = 2\n').map((e) => e.value), [1, 2]);
});

// ---- parser: errors, "<file>:<line>: <what>" ----

test('parser: syntax errors name the file and line like virtlockd does', () => {
  const cases: Array<[string, string]> = [
    ['log_level = 3 max_clients = 5\n', 'F:1: expecting a separator'],
    ['a = 1\nlog_level = 3abc\n', 'F:2: expecting a separator'],
    ['_x = 1\n', 'F:1: expecting a name'],
    ['x-y = 1\n', 'F:1: expecting an assignment'],
    ['a\n= 5\n', 'F:1: expecting an assignment'],
    ['a =\n5\n', 'F:1: expecting a value'],
    ['a = ?\n', 'F:1: expecting a value'],
    ['a = 1;;\n', 'F:1: expecting a name'],
    ['a = - 5\n', 'F:1: unterminated number'],
    ['a = -\n', 'F:1: unterminated number'],
    ['\n\nlog_filters = "abc\n', 'F:3: unterminated string'],
    ["a = 'abc\nb = 1\n", 'F:1: unterminated string'],
    ['log_filters = "a\\"b"\n', 'F:1: expecting a separator'], // no escapes: the string ends at the second quote
    ['a = 1\nb = """x\ny\n', 'F:2: unterminated string'],
    ['a = 1\nb = """x\ny\nz"""\nc = ?\n', 'F:5: expecting a value'],
    ['a = [ "x"\n', 'F:2: list is not closed with ]'],
    ['a = [ "x" "y" ]\n', 'F:1: expecting a separator in list'],
    ['a = [ 1,\n 2,\n ?\n', 'F:3: expecting a value'],
    ['log_outputs = [ "a", # c\n  "b" ]\n', 'F:1: expecting a value'], // no comments inside a list
    ['a = [\n  # c\n  "b" ]\n', 'F:2: expecting a value'],
    ['a = 9007199254740992\n', 'F:1: number 9007199254740992 is out of range'],
    ['a = -18446744073709551616\n', 'F:1: number -18446744073709551616 is out of range'],
  ];
  for (const [text, expected] of cases) assert.equal(parseError(text), expected, JSON.stringify(text));
});

test('parser: ConfigError carries file and line', () => {
  const file = writeConf('a = 1\nb = [\n');
  assert.throws(
    () => parseConf(fs.readFileSync(file, 'utf8'), file),
    (err: unknown) => err instanceof ConfigError && err.name === 'ConfigError' && err.file === file && err.line === 3,
  );
});

// ---- schema ----

test('schema: holds exactly the virtlockd 9.0 keys plus holdfast keys, each documented', () => {
  assert.deepEqual([...VIRTLOCKD_KEYS], ['log_level', 'log_filters', 'log_outputs', 'max_clients', 'admin_max_clients']);
  assert.deepEqual(SETTING_KEYS.filter((k) => !k.startsWith('cluster_')), Object.keys(ROOT_DEFAULTS).filter((k) => !k.startsWith('cluster_')));
  assert.deepEqual(SETTING_KEYS.filter((k) => k.startsWith('cluster_')), [...CLUSTER_KEYS]);
  assert.equal(SETTINGS_SCHEMA.additionalProperties, false);
  for (const [key, prop] of Object.entries(SETTINGS_SCHEMA.properties)) {
    assert.ok(prop.description.length > 20, `${key} has a description`);
    assert.match(prop.description, /^(virtlockd|holdfast) key\. /, `${key} says whose key it is`);
  }
});

test('schema: defaults for root (virtlockd: log_level 3, max_clients 1024, admin_max_clients 5000)', () => {
  assert.deepEqual(loadConfig(undefined, {}, { uid: 0, env: {} }), ROOT_DEFAULTS);
  assert.deepEqual(loadConfig(writeConf('# nothing set\n'), {}, { uid: 0, env: {} }), ROOT_DEFAULTS);
});

test('schema: unknown key names file and line and suggests the nearest key', () => {
  const lines = Array.from({ length: 11 }, (_, i) => `# line ${i + 1}`);
  assert.equal(loadError([...lines, 'max_client = 5'].join('\n') + '\n'), "F:12: unknown setting 'max_client' (did you mean 'max_clients'?)");
  assert.equal(loadError('loglevel = 1\n'), "F:1: unknown setting 'loglevel' (did you mean 'log_level'?)");
  assert.equal(loadError('socket = "/x"\n'), "F:1: unknown setting 'socket'");
  assert.equal(loadError('Log_Level = 1\n'), "F:1: unknown setting 'Log_Level' (did you mean 'log_level'?)");
  assert.equal(loadError('max_size = 2097152\n'), "F:1: unknown setting 'max_size' (it is a virtlogd.conf setting; virtlockd and holdfastd do not read it)");
  assert.equal(suggestKey('owner_kill_grace_ms'), 'owner_kill_term_grace_ms');
  assert.equal(suggestKey('zzzzzz'), undefined);
});

test('schema: bad types name the line and show what was given', () => {
  assert.equal(loadError('log_level = 2\nmax_clients = "5"\n'), 'F:2: max_clients must be an integer >= 1 (got the string "5")');
  assert.equal(loadError('log_outputs = 3\n'), 'F:1: log_outputs must be a string (got 3)');
  assert.equal(loadError('log_filters = [ "1:rpc" ]\n'), 'F:1: log_filters must be a string (got a list)');
  assert.equal(loadError('log_format = "xml"\n'), "F:1: log_format must be one of 'json', 'pretty' (got the string \"xml\")");
  assert.equal(loadError('socket_path = "run/sock"\n'), 'F:1: socket_path must be an absolute path (got the string "run/sock")');
  assert.equal(loadError('pid_file = 1\n'), 'F:1: pid_file must be an absolute path (got 1)');
});

test('schema: bounds', () => {
  assert.equal(loadError('\n\nmax_clients = 0\n'), 'F:3: max_clients must be an integer >= 1 (got 0)');
  assert.equal(loadError('max_clients = 4294967296\n'), 'F:1: max_clients must be an integer <= 4294967295 (got 4294967296)');
  assert.equal(loadError('admin_max_clients = -1\n'), 'F:1: admin_max_clients must be an integer >= 1 (got -1)');
  assert.equal(loadError('log_level = 0\n'), 'F:1: log_level must be an integer from 1 to 4 (got 0)');
  assert.equal(loadError('log_level = 5\n'), 'F:1: log_level must be an integer from 1 to 4 (got 5)');
  assert.equal(loadError('worker_ready_timeout_ms = 0\n'), 'F:1: worker_ready_timeout_ms must be an integer >= 1 (got 0)');
  assert.equal(
    loadError('owner_kill_term_grace_ms = 5000\n'),
    'F:1: owner_kill_give_up_ms (3000) must be >= owner_kill_term_grace_ms (5000)',
  );
  assert.equal(
    loadError('owner_kill_term_grace_ms = 100\nowner_kill_give_up_ms = 50\n'),
    'F:2: owner_kill_give_up_ms (50) must be >= owner_kill_term_grace_ms (100)',
  );
  assert.equal(
    loadError('max_frame_bytes_total = 1048576\n'),
    'F:1: max_frame_bytes_total (1048576) must be >= max_frame_bytes_per_client (8388608)',
  );
  assert.equal(loadError('max_frame_bytes_per_client = 33554437\n'), 'F:1: max_frame_bytes_per_client must be an integer <= 33554436 (got 33554437)');
  assert.equal(loadError('frame_deadline_ms = 10\n'), 'F:1: frame_deadline_ms must be an integer >= 100 (got 10)');
  assert.match(
    loadError(`socket_path = "/${'s'.repeat(120)}"\n`),
    /^F:1: socket_path is 121 bytes long; a unix socket path can have at most 107$/,
  );
});

test('schema: malformed log_outputs / log_filters are refused with their line', () => {
  assert.equal(
    loadError('log_level = 3\nlog_outputs = "3:stderr 3:nowhere"\n'),
    "F:2: log_outputs: output '3:nowhere': unknown destination 'nowhere' (expected stderr, file, syslog or journald)",
  );
  assert.equal(loadError('log_filters = "9:rpc"\n'), "F:1: log_filters: invalid priority '9' in '9:rpc' (expected 1 to 4)");
});

test('schema: every problem is reported, in line order; a duplicate key is one of them', () => {
  assert.equal(
    loadError('max_clients = 0\nfoo = 1\nlog_level = 2\nlog_level = 3\nlog_format = 1\n'),
    [
      'F:1: max_clients must be an integer >= 1 (got 0)',
      "F:2: unknown setting 'foo'",
      "F:4: duplicate setting 'log_level' (first set at line 3)",
      "F:5: log_format must be one of 'json', 'pretty' (got 1)",
    ].join('\n'),
  );
});

test('a config that sets every virtlockd key parses (as in Debian test_virtlockd.aug, with a stderr output)', () => {
  const file = writeConf(
    [
      '# Master virtlockd daemon configuration file',
      'log_level = 3',
      'log_filters="1:locking 4:object 4:json 4:event 1:util"',
      'log_outputs="3:stderr"',
      'max_clients = 1024',
      'admin_max_clients = 5',
      '',
    ].join('\n'),
  );
  assert.deepEqual(loadConfig(file, {}, { uid: 0, env: {} }), {
    ...ROOT_DEFAULTS,
    log_filters: '1:locking 4:object 4:json 4:event 1:util',
    log_outputs: '3:stderr',
    admin_max_clients: 5,
  });
});

test('syslog and journald outputs, which holdfast does not implement, are refused with the line', () => {
  assert.equal(
    loadError('log_level = 3\nlog_outputs="3:syslog:virtlockd 2:journald"\n'),
    [
      "F:2: log_outputs: holdfast does not implement the syslog destination ('3:syslog:virtlockd'); use '3:stderr' (under systemd stderr goes to the journal) or '3:file:PATH'",
      "F:2: log_outputs: holdfast does not implement the journald destination ('2:journald'); use '2:stderr' (under systemd stderr goes to the journal) or '2:file:PATH'",
    ].join('\n'),
  );
});

test('a key of the file that a flag overrides is reported, and the flag wins', () => {
  const file = writeConf('log_level = 3\nsocket_path = "/srv/a"\npid_file = "/srv/p"\n');
  const conflicts: string[] = [];
  const cfg = loadConfig(file, { socket_path: '/srv/b', pid_file: '/srv/p' }, { uid: 0, env: {}, onConflict: (m) => conflicts.push(m.split(file).join('F')) });
  assert.equal(cfg.socket_path, '/srv/b');
  assert.deepEqual(conflicts, ['socket_path = "/srv/a" (F:2) is overridden by the command line: "/srv/b"']);
});

test('a config that sets every key, virtlockd and holdfast, parses', () => {
  const file = writeConf(
    [
      'log_level = 1',
      "log_filters = '2:rpc 1:+lockspace'",
      `log_outputs = "1:file:${dir}/all.log 3:stderr"`,
      'max_clients = 64',
      'admin_max_clients = 8',
      'socket_path = "/srv/hf/sock"',
      'admin_socket_path = "/srv/hf/admin-sock"',
      'state_file = "/srv/hf/state.json"',
      'pid_file = "/srv/hf/pid"',
      'worker_ready_timeout_ms = 10000',
      'worker_stall_timeout_ms = 2000',
      'owner_kill_term_grace_ms = 200',
      'owner_kill_give_up_ms = 400',
      'max_frame_bytes_per_client = 1048576',
      'max_frame_bytes_total = 2097152',
      'frame_deadline_ms = 5000',
      'log_format = "pretty"',
      'cluster_etcd_endpoints = [ "https://etcd1:2379", "https://etcd2:2379" ]',
      'cluster_lockspaces = [ "/var/lib/libvirt/lockd/files" ]',
      'cluster_path_prefixes = [ "/srv/images/" ]',
      'cluster_host_id = "host-1"',
      'cluster_lease_ttl_ms = 5000',
      'cluster_key_prefix = "/hf/"',
      'cluster_tls_ca_file = "/etc/hf/ca.pem"',
      'cluster_tls_cert_file = "/etc/hf/cert.pem"',
      'cluster_tls_key_file = "/etc/hf/key.pem"',
      'cluster_username = "holdfast"',
      'cluster_password_file = "/etc/hf/password"',
      'cluster_watchdog_device = "/dev/watchdog"',
      'cluster_watchdog_timeout_ms = 3000',
    ].join('\n'),
  );
  const expected: HoldfastConfig = {
    log_level: 1,
    log_filters: '2:rpc 1:+lockspace',
    log_outputs: `1:file:${dir}/all.log 3:stderr`,
    max_clients: 64,
    admin_max_clients: 8,
    socket_path: '/srv/hf/sock',
    admin_socket_path: '/srv/hf/admin-sock',
    state_file: '/srv/hf/state.json',
    pid_file: '/srv/hf/pid',
    worker_ready_timeout_ms: 10000,
    worker_stall_timeout_ms: 2000,
    owner_kill_term_grace_ms: 200,
    owner_kill_give_up_ms: 400,
    max_frame_bytes_per_client: 1048576,
    max_frame_bytes_total: 2097152,
    frame_deadline_ms: 5000,
    log_format: 'pretty',
    cluster_etcd_endpoints: ['https://etcd1:2379', 'https://etcd2:2379'],
    cluster_lockspaces: ['/var/lib/libvirt/lockd/files'],
    cluster_path_prefixes: ['/srv/images/'],
    cluster_host_id: 'host-1',
    cluster_lease_ttl_ms: 5000,
    cluster_key_prefix: '/hf/',
    cluster_tls_ca_file: '/etc/hf/ca.pem',
    cluster_tls_cert_file: '/etc/hf/cert.pem',
    cluster_tls_key_file: '/etc/hf/key.pem',
    cluster_username: 'holdfast',
    cluster_password_file: '/etc/hf/password',
    cluster_watchdog_device: '/dev/watchdog',
    cluster_watchdog_timeout_ms: 3000,
  };
  assert.deepEqual(loadConfig(file, {}, { uid: 0, env: {} }), expected);
});

// ---- loadConfig ----

test('loadConfig: a named file that is missing is an error (virtlockd -f); allowMissing accepts it', () => {
  const missing = path.join(dir, 'does-not-exist.conf');
  assert.throws(() => loadConfig(missing, {}, { uid: 0, env: {} }), {
    name: 'ConfigError',
    message: `${missing}: cannot read config file (ENOENT: no such file or directory)`,
  });
  assert.deepEqual(loadConfig(missing, {}, { uid: 0, env: {}, allowMissing: true }), ROOT_DEFAULTS);
  assert.throws(() => loadConfig(dir, {}, { uid: 0, env: {} }), { name: 'ConfigError', message: `${dir}: cannot read config file (EISDIR: it is a directory)` });
});

test('loadConfig: command-line overrides win over the file; undefined overrides are ignored', () => {
  const file = writeConf('max_clients = 10\nlog_level = 2\nlog_format = "pretty"\n');
  const cfg = loadConfig(file, { max_clients: 20, log_level: undefined, log_format: 'json' }, { uid: 0, env: {} });
  assert.equal(cfg.max_clients, 20);
  assert.equal(cfg.log_level, 2);
  assert.equal(cfg.log_format, 'json');
});

test('loadConfig: a bad override is reported as coming from the command line', () => {
  assert.throws(() => loadConfig(undefined, { max_clients: 0 }, { uid: 0, env: {} }), {
    name: 'ConfigError',
    message: 'command line: max_clients must be an integer >= 1 (got 0)',
  });
});

test('loadConfig: path precedence: uid default < file < --run-dir < explicit override (made absolute)', () => {
  const env = { XDG_RUNTIME_DIR: '/run/user/1000' };
  assert.equal(loadConfig(undefined, {}, { uid: 1000, env }).socket_path, '/run/user/1000/libvirt/virtlockd-sock');
  const file = writeConf('socket_path = "/srv/sock"\npid_file = "/srv/pid"\n');
  const fromFile = loadConfig(file, {}, { uid: 1000, env });
  assert.equal(fromFile.socket_path, '/srv/sock');
  assert.equal(fromFile.state_file, '/run/user/1000/libvirt/virtlockd-restart-exec.json');
  const runDir = path.join(dir, 'run');
  const withRunDir = loadConfig(file, {}, { uid: 1000, env, runDir });
  assert.equal(withRunDir.socket_path, path.join(runDir, 'holdfastd-sock'));
  assert.equal(withRunDir.pid_file, path.join(runDir, 'holdfastd.pid'));
  const withOverride = loadConfig(file, { socket_path: 'rel/sock' }, { uid: 1000, env, runDir });
  assert.equal(withOverride.socket_path, path.resolve('rel/sock'));
  assert.equal(withOverride.admin_socket_path, path.join(runDir, 'holdfastd-admin-sock'));
});

test('loadConfig: a file above 10 MiB is refused, as virconf does', () => {
  const file = path.join(dir, 'huge.conf');
  fs.writeFileSync(file, '#'.repeat(10 * 1024 * 1024 + 1));
  assert.throws(() => loadConfig(file, {}, { uid: 0, env: {} }), { message: `${file}: config file is larger than 10 MiB` });
});
