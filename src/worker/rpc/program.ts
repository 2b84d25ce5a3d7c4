// RPC programs and call dispatch: checks program, version, type and status, looks the procedure up,
// decodes its arguments, runs the handler and encodes the reply — or the error reply. This is the only
// place where a thrown error becomes a virNetMessageError on the wire.
import type { Logger } from 'pino';
import { MessageHeader, MessageStatus, MessageType, HEADER_END, encodeReply } from '../../shared/protocol/message';
import { VirError } from '../../shared/protocol/vir-error';

/** One procedure of a program: how to decode its arguments and what to do with them. */
export interface Procedure<S> {
  name: string;
  decode(payload: Buffer): unknown;
  /**
   * Decodes the arguments where they lie, `offset` bytes into the whole frame, without a payload view
   * (the hot procedures); preferred over `decode` when present, and must accept and refuse the same bytes.
   */
  decodeAt?(frame: Buffer, offset: number): unknown;
  /** Returns the reply payload (empty for void procedures) or a promise of it. */
  handle(state: S, args: unknown): Buffer | void | Promise<Buffer | void>;
}

export class RpcProgram<S> {
  constructor(
    readonly number: number,
    readonly version: number,
    readonly procedures: ReadonlyMap<number, Procedure<S>>,
  ) {}
}

/**
 * What a frame produced: the reply bytes (null = nothing to send), the procedure name and whether it
 * succeeded. Dispatch fills in one the caller keeps per connection, rather than making one per request.
 */
export interface DispatchOutcome {
  reply: Buffer | null;
  procedure: string;
  ok: boolean;
}

const EMPTY = Buffer.alloc(0);

/**
 * Dispatches one whole frame (length word included) for a connection whose per-program state is `state`,
 * and writes what it produced into `outcome`: at once when the handler is synchronous (the lock program's
 * always are), else once the returned promise settles. Nothing is allocated here but the reply.
 */
export function dispatchFrame<S>(
  programs: readonly RpcProgram<S>[],
  header: MessageHeader,
  frame: Buffer,
  state: S,
  log: Logger,
  outcome: DispatchOutcome,
): DispatchOutcome | Promise<DispatchOutcome> {
  const program = findProgram(programs, header);
  const isCall = header.type === MessageType.CALL || header.type === MessageType.CALL_WITH_FDS;
  if (!program) {
    // libvirt answers unknown programs only for calls; anything else is dropped without a reply.
    if (!isCall) return settle(outcome, null, 'unknown', false);
    return refuse(outcome, header, VirError.rpcError(`Cannot find program ${header.prog} version ${header.vers}`), 'unknown');
  }
  // Non-calls (late stream packets, stray replies) are dropped: libvirt's "dummy reply" to them carries no bytes.
  if (!isCall) return settle(outcome, null, 'none', false);
  if (header.status !== MessageStatus.OK) {
    return refuse(outcome, header, VirError.rpcError(`Unexpected message status ${header.status}`), 'unknown');
  }
  const procedure = program.procedures.get(header.proc);
  if (!procedure) return refuse(outcome, header, VirError.rpcError(`unknown procedure: ${header.proc}`), 'unknown');

  let args: unknown;
  try {
    const offset = payloadOffset(header);
    args = procedure.decodeAt ? procedure.decodeAt(frame, offset) : procedure.decode(frame.subarray(offset));
  } catch {
    return refuse(outcome, header, VirError.rpcError('Unable to decode message payload'), procedure.name);
  }
  try {
    const result = procedure.handle(state, args);
    if (result instanceof Promise) {
      return result.then(
        (payload) => settle(outcome, encodeReply(header, MessageStatus.OK, payload ?? EMPTY), procedure.name, true),
        (err: unknown) => refuse(outcome, header, asVirError(err, procedure.name, log), procedure.name),
      );
    }
    return settle(outcome, encodeReply(header, MessageStatus.OK, result ?? EMPTY), procedure.name, true);
  } catch (err) {
    return refuse(outcome, header, asVirError(err, procedure.name, log), procedure.name);
  }
}

// A loop rather than find(): no closure per request.
function findProgram<S>(programs: readonly RpcProgram<S>[], header: MessageHeader): RpcProgram<S> | undefined {
  for (let i = 0; i < programs.length; i++) {
    const program = programs[i]!;
    if (program.number === header.prog && program.version === header.vers) return program;
  }
  return undefined;
}

// CALL_WITH_FDS carries a fd count between header and payload.
function payloadOffset(header: MessageHeader): number {
  return header.type === MessageType.CALL_WITH_FDS ? HEADER_END + 4 : HEADER_END;
}

function settle(outcome: DispatchOutcome, reply: Buffer | null, procedure: string, ok: boolean): DispatchOutcome {
  outcome.reply = reply;
  outcome.procedure = procedure;
  outcome.ok = ok;
  return outcome;
}

function refuse(outcome: DispatchOutcome, header: MessageHeader, error: VirError, procedure: string): DispatchOutcome {
  return settle(outcome, encodeReply(header, MessageStatus.ERROR, error.encode()), procedure, false);
}

/** The error reply to a call, as a handler's failure would produce it. */
export function errorOutcome(header: MessageHeader, error: VirError, procedure: string): DispatchOutcome {
  return refuse({ reply: null, procedure, ok: false }, header, error, procedure);
}

function asVirError(err: unknown, procedure: string, log: Logger): VirError {
  if (err instanceof VirError) return err;
  log.error({ err, procedure }, 'unexpected failure in a procedure handler');
  return VirError.internalError(`unexpected failure in ${procedure}: ${(err as Error)?.message ?? String(err)}`);
}
