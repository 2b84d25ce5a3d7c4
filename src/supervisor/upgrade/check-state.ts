// `holdfastd --check-state FILE`: everything readStateFile checks, without removing the file, plus a summary
// for humans and, optionally, a check of the fds against a live process's /proc/<pid>/fd. The supervisor runs
// the binary now on disk on the document it is about to exec with, so a new version that cannot read it is
// found out before the old image is gone. Reads only; never touches the fds themselves.
import * as fs from 'node:fs';
import { lockKindOf } from '../../shared/custody/records/resource-record';
import { listFdReferences, lockspacesOf, serversOf, type FdReference, type StateDocument } from './state-document';
import { readStateFile, StateDocumentError, type StateDocumentErrorReason } from './state-file';

/** Options of {@link checkStateDocument}. */
export interface CheckStateOptions {
  /** Also require `magic` to be this pid (decimal), as the reader after the exec will. */
  expectedMagic?: string;
  /**
   * Check every referenced fd in /proc/<pid>/fd: it is open, a socket where a socket is expected, a resource
   * fd opens the resource's file and, when `lockHeld`, carries a lock of the expected kind and type.
   * With `requireInheritable`, fds still marked close-on-exec are problems too (they would not survive exec).
   */
  verifyFds?: { pid: number; requireInheritable?: boolean };
}

/** Counts describing a valid document. */
export interface StateSummary {
  /** 'holdfast' when the document has holdfast's additions, 'virtlockd' when it has none. */
  writer: 'holdfast' | 'virtlockd';
  /** The pid the document is meant for. */
  magic: string;
  /** `holdfast.schemaVersion`; null in a virtlockd document. */
  schemaVersion: number | null;
  /** `holdfast.generation`; null in a virtlockd document. */
  generation: number | null;
  /** `holdfast.savedAt`; null in a virtlockd document. */
  savedAt: string | null;
  /** Server names, lock server first. */
  servers: string[];
  /** Listening sockets across all servers. */
  listeningSockets: number;
  /** Client connections across all servers. */
  clients: number;
  /** Client connections per server name. */
  clientsByServer: Record<string, number>;
  /** Lock-protocol clients with an owner (ownerId ≠ 0). */
  registeredClients: number;
  restrictedClients: number;
  /** Directory lockspaces (the default lockspace is always there besides). */
  lockspaces: number;
  /** Resources across all lockspaces. */
  resources: number;
  /** Resources with `lockHeld`; the next four split these. */
  locksHeld: number;
  sharedLocks: number;
  exclusiveLocks: number;
  /** Held through an open file description (holdfast). */
  ofdLocks: number;
  /** Held by the reading pid (virtlockd's kind). */
  posixLocks: number;
  /** Distinct owner pids across all resources. */
  owners: number;
  /** Every fd the document refers to, ascending. */
  fds: number[];
}

/** Outcome of {@link checkStateDocument}. */
export interface CheckReport {
  /** True when the document is usable and, if asked, every fd checked out. */
  ok: boolean;
  /** The document checked. */
  file: string;
  /** Why the document is unusable; absent when it was read and validated. */
  reason?: StateDocumentErrorReason;
  /** Problems with the document itself ("JSON pointer: problem"). */
  errors: string[];
  /** Present when the document is valid. */
  summary?: StateSummary;
  /** Whether the fds were checked (verifyFds given and the document valid). */
  fdsVerified: boolean;
  /** Problems found checking fds against the process. */
  fdProblems: string[];
}

/** Checks the document at `file` without removing or changing it. Never throws for a bad document. */
export function checkStateDocument(file: string, options: CheckStateOptions = {}): CheckReport {
  let doc: StateDocument;
  try {
    doc = readStateFile(file, { remove: false, ...(options.expectedMagic !== undefined ? { expectedMagic: options.expectedMagic } : {}) });
  } catch (err) {
    if (!(err instanceof StateDocumentError)) throw err;
    return { ok: false, file, reason: err.reason, errors: [...err.problems], fdsVerified: false, fdProblems: [] };
  }
  const fdProblems = options.verifyFds ? verifyFds(doc, options.verifyFds.pid, options.verifyFds.requireInheritable ?? false) : [];
  return { ok: fdProblems.length === 0, file, errors: [], summary: summarize(doc), fdsVerified: options.verifyFds !== undefined, fdProblems };
}

/** Counts of a valid document. */
export function summarize(doc: StateDocument): StateSummary {
  const clientsByServer: Record<string, number> = {};
  let listeningSockets = 0;
  let clients = 0;
  for (const { name, server } of serversOf(doc)) {
    clientsByServer[name] = server.clients.length;
    clients += server.clients.length;
    for (const service of server.services) listeningSockets += service.socks.length;
  }
  const lockClients = doc.daemon.servers.virtlockd.clients;
  const summary: StateSummary = {
    writer: doc.holdfast ? 'holdfast' : 'virtlockd',
    magic: doc.magic,
    schemaVersion: doc.holdfast?.schemaVersion ?? null,
    generation: doc.holdfast?.generation ?? null,
    savedAt: doc.holdfast?.savedAt ?? null,
    servers: serversOf(doc).map((s) => s.name),
    listeningSockets,
    clients,
    clientsByServer,
    registeredClients: lockClients.filter((c) => c.privateData.ownerId !== 0).length,
    restrictedClients: lockClients.filter((c) => c.privateData.restricted).length,
    lockspaces: doc.lockspaces.length,
    resources: 0,
    locksHeld: 0,
    sharedLocks: 0,
    exclusiveLocks: 0,
    ofdLocks: 0,
    posixLocks: 0,
    owners: 0,
    fds: [...new Set(listFdReferences(doc).map((r) => r.fd))].sort((a, b) => a - b),
  };
  const owners = new Set<number>();
  for (const { lockspace } of lockspacesOf(doc)) {
    for (const resource of lockspace.resources) {
      summary.resources++;
      resource.owners.forEach((o) => owners.add(o));
      if (!resource.lockHeld) continue;
      summary.locksHeld++;
      if ((resource.flags & 1) !== 0) summary.sharedLocks++;
      else summary.exclusiveLocks++;
      if (lockKindOf(resource) === 'ofd') summary.ofdLocks++;
      else summary.posixLocks++;
    }
  }
  summary.owners = owners.size;
  return summary;
}

/** The report as lines of text for a terminal or a log. */
export function formatCheckReport(report: CheckReport): string {
  const lines: string[] = [];
  if (!report.summary) {
    lines.push(`state document ${report.file}: REJECTED (${report.reason ?? 'invalid'})`);
    for (const e of report.errors) lines.push(`  ${e}`);
    return lines.join('\n');
  }
  const s = report.summary;
  const writer = s.writer === 'holdfast' ? `holdfast schema ${s.schemaVersion}, generation ${s.generation}, saved ${s.savedAt}` : 'virtlockd (no holdfast keys)';
  lines.push(`state document ${report.file}: ${report.ok ? 'OK' : 'PROBLEMS'} (${writer})`);
  lines.push(`  magic: pid ${s.magic}`);
  lines.push(`  servers: ${s.servers.join(', ')}; ${s.listeningSockets} listening socket${plural(s.listeningSockets)}`);
  const perServer = Object.entries(s.clientsByServer).map(([name, n]) => `${name} ${n}`).join(', ');
  lines.push(`  clients: ${s.clients} (${perServer}); ${s.registeredClients} registered, ${s.restrictedClients} restricted`);
  lines.push(`  lockspaces: ${s.lockspaces} director${s.lockspaces === 1 ? 'y' : 'ies'} + default`);
  lines.push(
    `  resources: ${s.resources}; ${s.locksHeld} lock${plural(s.locksHeld)} held (${s.exclusiveLocks} exclusive, ${s.sharedLocks} shared; ` +
      `${s.ofdLocks} OFD, ${s.posixLocks} POSIX) for ${s.owners} owner${plural(s.owners)}`,
  );
  lines.push(`  fds referenced: ${s.fds.length}${s.fds.length > 0 ? ` (${abbreviate(s.fds)})` : ''}`);
  if (report.fdsVerified) {
    lines.push(report.fdProblems.length === 0 ? '  fds: all present and as described' : `  fd problems: ${report.fdProblems.length}`);
    for (const p of report.fdProblems) lines.push(`    ${p}`);
  }
  return lines.join('\n');
}

function plural(n: number): string {
  return n === 1 ? '' : 's';
}

function abbreviate(fds: number[]): string {
  const shown = fds.slice(0, 20).join(', ');
  return fds.length > 20 ? `${shown}, … ${fds.length - 20} more` : shown;
}

// O_CLOEXEC as /proc/<pid>/fdinfo prints it (octal flags); Linux's value on every architecture Node runs on.
const O_CLOEXEC = 0o2000000;

/** Checks every referenced fd of `doc` against /proc/<pid>. Returns the problems found. */
function verifyFds(doc: StateDocument, pid: number, requireInheritable: boolean): string[] {
  const problems: string[] = [];
  for (const ref of listFdReferences(doc)) {
    const what = `fd ${ref.fd} (${ref.pointer})`;
    const link = `/proc/${pid}/fd/${ref.fd}`;
    let target: string;
    try {
      target = fs.readlinkSync(link);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(code === 'ENOENT' ? `${what}: not open in pid ${pid}` : `${what}: cannot inspect ${link}: ${code ?? String(err)}`);
      continue;
    }
    const info = readFdInfo(pid, ref.fd);
    if (requireInheritable && info !== null && (info.flags & O_CLOEXEC) !== 0) {
      problems.push(`${what}: still close-on-exec, it would not survive the exec`);
    }
    if (ref.role === 'listen-socket' || ref.role === 'client-socket' || ref.role === 'worker-channel') {
      if (!target.startsWith('socket:')) problems.push(`${what}: should be a socket, but is ${target}`);
    } else if (ref.role === 'reply-pipe') {
      if (!target.startsWith('pipe:')) problems.push(`${what}: should be a pipe, but is ${target}`);
    } else if (ref.role === 'resource' && ref.resource) {
      problems.push(...resourceFdProblems(ref, what, link, target, info));
    } else if (ref.role === 'watchdog') {
      const device = doc.holdfast!.clusterWatchdog!.device;
      if (target !== device && !sameFile(link, device)) problems.push(`${what}: opens ${target}, not the cluster watchdog device ${device}`);
    }
  }
  return problems;
}

function resourceFdProblems(ref: FdReference, what: string, link: string, target: string, info: FdInfo | null): string[] {
  const resource = ref.resource!;
  const problems: string[] = [];
  if (target !== resource.path && !sameFile(link, resource.path)) {
    problems.push(`${what}: opens ${target}, not the resource file ${resource.path}`);
  }
  if (resource.lockHeld && info !== null) {
    // fdinfo lists the locks taken through this open file description: "lock: 1: OFDLCK ADVISORY WRITE -1 …"
    const kind = lockKindOf(resource) === 'ofd' ? 'OFDLCK' : 'POSIX';
    const type = (resource.flags & 1) !== 0 ? 'READ' : 'WRITE';
    const locks = info.locks.map((l) => l.split(/\s+/));
    if (!locks.some((f) => f.includes(kind) && f.includes(type))) {
      const found = info.locks.length === 0 ? 'no lock' : info.locks.map((l) => l.replace(/^\d+:\s*/, '')).join('; ');
      problems.push(`${what}: lockHeld, but the fd carries ${found} instead of a ${kind} ${type} lock`);
    }
  }
  return problems;
}

// Compares device and inode of the open file with what the path names now.
function sameFile(link: string, file: string): boolean {
  try {
    const open = fs.statSync(link, { bigint: true });
    const named = fs.statSync(file, { bigint: true });
    return open.dev === named.dev && open.ino === named.ino;
  } catch {
    return false;
  }
}

interface FdInfo {
  flags: number;
  locks: string[];
}

function readFdInfo(pid: number, fd: number): FdInfo | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
  } catch {
    return null;
  }
  let flags = 0;
  const locks: string[] = [];
  for (const line of text.split('\n')) {
    const [key, ...rest] = line.split(':');
    const value = rest.join(':').trim();
    if (key === 'flags') flags = Number.parseInt(value, 8);
    else if (key === 'lock') locks.push(value);
  }
  return { flags, locks };
}
