// Public entry point of the holdfast package: the lock-protocol client, the admin client, and the protocol types,
// constants and errors a caller needs to use it. Re-exports only; no logic lives here.

export { DaemonError } from './daemon-error';
export {
  CONNECTION_CLOSED,
  ConnectionClosedError,
  LockClient,
  LockError,
  ProtocolError,
  bytesToUuid,
  uuidToBytes,
  type CallOptions,
  type LockClientOptions,
  type LockOwnerSpec,
  type RawReply,
} from './lock-client';
export {
  AcquireFlags,
  LOCK_PROCEDURES,
  LOCK_PROGRAM,
  LOCK_PROGRAM_VERSION,
  LOCK_STRING_MAX,
  LockProcedure,
  UUID_LENGTH,
  lookupProcedure,
  type ProcedureEntry,
} from '../shared/protocol/lock-program';
export {
  MAX_FRAME_SIZE,
  MessageStatus,
  MessageType,
  encodeMessage,
  decodeMessage,
  type MessageHeader,
} from '../shared/protocol/message';
export { FrameError } from './frame-reader';
export { VirError, VirErrorCode, VirErrorDomain, VirErrorLevel } from '../shared/protocol/vir-error';
export { XdrDecodeError, type XdrString } from '../shared/protocol/xdr';
export {
  AdminClient,
  AdminError,
  WaitTimeoutError,
  type ActionResult,
  type LocksFilter,
  type WaitOptions,
} from './admin-client';
export {
  HOLDFAST_PROGRAM,
  HOLDFAST_PROGRAM_VERSION,
  HoldfastProcedure,
  HoldfastReplyError,
  type ActionOutcome,
  type ActionReply,
  type ClientInfo,
  type ClusterEndpointHealth,
  type ClusterHoldInfo,
  type ClusterInfo,
  type ClusterLeaseStatus,
  type ClusterReply,
  type FenceReport,
  type LockInfo,
  type LockOwnerInfo,
  type LockspaceInfo,
  type SetLogLevelReply,
  type StatusReply,
  type SupervisorClusterStatus,
  type SupervisorStatus,
  type WhoReply,
} from '../shared/protocol/operations-program';
