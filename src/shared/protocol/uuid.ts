// UUID text <-> the 16 raw bytes the lock protocol carries (owner uuid). No protocol logic here.

/** Raw size of a UUID (`VIR_UUID_BUFLEN`). */
const UUID_BYTES = 16;

const UUID_PATTERN = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/**
 * Parses a UUID string (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, or the same 32 hex digits without
 * dashes, any case) into its 16 raw bytes. @throws TypeError on anything else
 */
export function uuidToBytes(uuid: string): Buffer {
  if (!UUID_PATTERN.test(uuid)) throw new TypeError(`invalid UUID: ${JSON.stringify(uuid)}`);
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

/** Formats 16 raw bytes as a lowercase dashed UUID string. @throws TypeError if not 16 bytes */
export function bytesToUuid(bytes: Uint8Array): string {
  if (bytes.length !== UUID_BYTES) throw new TypeError(`UUID needs ${UUID_BYTES} bytes, got ${bytes.length}`);
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
