// Names are bytes on the wire and in the kernel, but strings in holdfast (custody records, the state document,
// the fd-store journal are JSON). Only a name whose bytes survive that round trip unchanged is taken: valid
// UTF-8 without NUL. Anything else is refused, never mapped to a look-alike (U+FFFD) or cut at the NUL.
import { isUtf8 } from 'node:buffer';
import { VirError, VirErrorDomain } from '../../shared/protocol/vir-error';

/** The name as a string, or INVALID_ARG when the string would not stand for exactly these bytes. */
export function exactName(bytes: Buffer, what: string): string {
  if (bytes.includes(0)) {
    throw VirError.invalidArg(`${what} '${printable(bytes)}' contains a NUL byte`, VirErrorDomain.RPC);
  }
  if (!isUtf8(bytes)) {
    throw VirError.invalidArg(`${what} '${printable(bytes)}' is not valid UTF-8; holdfast only takes names it can keep byte for byte`, VirErrorDomain.RPC);
  }
  return bytes.toString('utf8');
}

/**
 * exactName of bytes[start, end) without a view or a second scan in the common case: a string decoded
 * from invalid UTF-8 always carries U+FFFD, and only the byte 0 decodes to U+0000, so a decoded name with
 * neither stands for exactly its bytes. Anything else takes the full check (and its exact error).
 */
export function exactNameIn(bytes: Buffer, start: number, end: number, what: string): string {
  const name = bytes.toString('utf8', start, end);
  if (name.indexOf('\0') === -1 && name.indexOf('\uFFFD') === -1) return name;
  return exactName(bytes.subarray(start, end), what);
}

// Printable ASCII as is, every other byte as \xNN: a message must not carry the bytes it refuses.
function printable(bytes: Buffer): string {
  let out = '';
  for (const b of bytes.subarray(0, 256)) {
    out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return bytes.length > 256 ? `${out}...` : out;
}
