// RPC programs and call dispatch: checks program, version, type and status, looks the procedure up,
// decodes its arguments, runs the handler and encodes the reply — or the error reply. This is the only
// place where a thrown error becomes a virNetMessageError on the wire.
import type { Logger } from 'pino';
import { MessageHeader, MessageStatus, MessageType, HEADER_END, encodeMessage } from '../../shared/protocol/message';
import { VirError } from '../../shared/protocol/vir-error';

/** One procedure of a program: how to decode its arguments and what to do with them. */
export interface Procedure<S> {
  name: string;
  decode(payload: Buffer): unknown;
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

/** What a frame produced: the reply bytes (null = nothing to send), the procedure name and whether it succeeded. */
export interface DispatchOutcome {
  reply: Buffer | null;
  procedure: string;
  ok: boolean;
}

const EMPTY = Buffer.alloc(0);

/** Dispatches one whole frame (length word included) for a connection whose per-program state is `state`. */
export function dispatchFrame<S>(
  programs: readonly RpcProgram<S>[],
  header: MessageHeader,
  frame: Buffer,
  state: S,
  log: Logger,
): DispatchOutcome | Promise<DispatchOutcome> {
  const program = programs.find((p) => p.number === header.prog && p.version === header.vers);
  const isCall = header.type === MessageType.CALL || header.type === MessageType.CALL_WITH_FDS;
  if (!program) {
    // libvirt answers unknown programs only for calls; anything else is dropped without a reply.
    if (!isCall) return { reply: null, procedure: 'unknown', ok: false };
    return errorOutcome(header, VirError.rpcError(`Cannot find program ${header.prog} version ${header.vers}`), 'unknown');
  }
  // Non-calls (late stream packets, stray replies) are dropped: libvirt's "dummy reply" to them carries no bytes.
  if (!isCall) return { reply: null, procedure: 'none', ok: false };
  if (header.status !== MessageStatus.OK) {
    return errorOutcome(header, VirError.rpcError(`Unexpected message status ${header.status}`), 'unknown');
  }
  const procedure = program.procedures.get(header.proc);
  if (!procedure) return errorOutcome(header, VirError.rpcError(`unknown procedure: ${header.proc}`), 'unknown');

  let args: unknown;
  try {
    args = procedure.decode(frame.subarray(payloadOffset(header)));
  } catch {
    return errorOutcome(header, VirError.rpcError('Unable to decode message payload'), procedure.name);
  }
  try {
    const result = procedure.handle(state, args);
    if (result instanceof Promise) {
      return result.then(
        (payload) => okOutcome(header, payload, procedure.name),
        (err: unknown) => errorOutcome(header, asVirError(err, procedure.name, log), procedure.name),
      );
    }
    return okOutcome(header, result, procedure.name);
  } catch (err) {
    return errorOutcome(header, asVirError(err, procedure.name, log), procedure.name);
  }
}

// CALL_WITH_FDS carries a fd count between header and payload.
function payloadOffset(header: MessageHeader): number {
  return header.type === MessageType.CALL_WITH_FDS ? HEADER_END + 4 : HEADER_END;
}

function okOutcome(header: MessageHeader, payload: Buffer | void, procedure: string): DispatchOutcome {
  const reply = encodeMessage({ ...header, type: MessageType.REPLY, status: MessageStatus.OK }, payload ?? EMPTY);
  return { reply, procedure, ok: true };
}

/** The error reply to a call, as a handler's failure would produce it. */
export function errorOutcome(header: MessageHeader, error: VirError, procedure: string): DispatchOutcome {
  return { reply: encodeMessage({ ...header, type: MessageType.REPLY, status: MessageStatus.ERROR }, error.encode()), procedure, ok: false };
}

function asVirError(err: unknown, procedure: string, log: Logger): VirError {
  if (err instanceof VirError) return err;
  log.error({ err, procedure }, 'unexpected failure in a procedure handler');
  return VirError.internalError(`unexpected failure in ${procedure}: ${(err as Error)?.message ?? String(err)}`);
}
