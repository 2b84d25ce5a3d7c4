// What every `holdfast` command shares: the global options, finding and connecting to the admin socket,
// printing JSON or text, and turning failures into one line on stderr with an exit code (2 for usage and
// connection errors, so that `who`'s 1 keeps meaning "held").
import { AdminClient, AdminError } from '../client/admin-client';
import { ConnectionClosedError } from '../client/lock-client';
import { defaultPaths } from '../shared/platform/paths';

/** Options every command accepts (given before or after the command name). */
export interface GlobalOptions {
  adminSocket?: string;
  runDir?: string;
  json?: boolean;
}

/** Exit codes of `holdfast`. */
export const EXIT = { OK: 0, HELD_OR_REFUSED: 1, ERROR: 2 } as const;

/** A failure to report as one line, with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.ERROR,
  ) {
    super(message);
  }
}

/** The admin socket the daemon uses by default (as holdfastd computes it), or the one given. */
export function adminSocketPath(opts: GlobalOptions): string {
  if (opts.adminSocket) return opts.adminSocket;
  return defaultPaths({ uid: process.geteuid?.() ?? 0, ...(opts.runDir !== undefined ? { runDir: opts.runDir } : {}), env: process.env }).adminSocket;
}

/** Connects, runs `use` and closes; every failure becomes a CliError naming the socket. */
export async function withAdmin<T>(opts: GlobalOptions, use: (client: AdminClient) => Promise<T>): Promise<T> {
  const socket = adminSocketPath(opts);
  let client: AdminClient;
  try {
    client = await AdminClient.connect(socket);
  } catch (err) {
    throw connectError(socket, err as NodeJS.ErrnoException);
  }
  try {
    return await use(client);
  } catch (err) {
    throw callError(socket, err);
  } finally {
    await client.close().catch(() => undefined);
  }
}

function connectError(socket: string, err: NodeJS.ErrnoException): CliError {
  switch (err.code) {
    case 'ENOENT':
      return new CliError(`no admin socket at ${socket}: is holdfastd running? (see --admin-socket, --run-dir)`);
    case 'ECONNREFUSED':
      return new CliError(`nothing accepts connections on ${socket}: holdfastd is not running`);
    case 'EACCES':
    case 'EPERM':
      return new CliError(`permission denied on ${socket}: only the daemon's own user may use its admin socket (you are uid ${process.getuid?.()})`);
    default:
      return new CliError(`cannot connect to ${socket}: ${err.message}`);
  }
}

// Anything else (a malformed reply, a wait that timed out) is reported by its own message, exit 2.
function callError(socket: string, err: unknown): Error {
  if (err instanceof ConnectionClosedError) {
    // The daemon hangs up at once on a peer whose uid it does not serve (SO_PEERCRED).
    return new CliError(
      `holdfastd closed the connection on ${socket}: it serves only its own user on the admin socket (you are uid ${process.getuid?.()}), or it stopped`,
    );
  }
  if (err instanceof AdminError) return new CliError(`holdfastd refused: ${err.message}`);
  return err instanceof Error ? err : new Error(String(err));
}

/** Prints a value as JSON (one document, newline-terminated). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints lines of text. */
export function printLines(lines: string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Treats EPIPE on `stream` (the reader went away) as the end of the output: exit 0 at once, with nothing
 * more printed. Node ignores SIGPIPE, so without this the write error surfaces as an unhandled stack.
 */
export function endOutputOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.OK);
    process.stderr.write(`holdfast: cannot write the output: ${err.message}\n`);
    process.exit(EXIT.ERROR);
  });
}
