// libvirt typed parameters on the wire (admin_typed_param / remote_typed_param): a field name and a
// value union discriminated by an int type. Also the server-side checks libvirt applies to a received list.

import { VirError, VirErrorCode, VirErrorDomain } from './vir-error';
import { XdrReader, XdrWriter } from './xdr';

/** `virTypedParameterType`: the union discriminant. */
export enum TypedParamType {
  INT = 1,
  UINT = 2,
  LLONG = 3,
  ULLONG = 4,
  DOUBLE = 5,
  BOOLEAN = 6,
  STRING = 7,
}

/** `VIR_TYPED_PARAM_FIELD_LENGTH`: a field name has at most 79 bytes (80 with the NUL). */
export const TYPED_PARAM_FIELD_LENGTH = 80;

/** One typed parameter. 64-bit values are bigints; INT/UINT numbers; BOOLEAN travels as an int 0/1. */
export type TypedParam =
  | { field: string; type: TypedParamType.INT; value: number }
  | { field: string; type: TypedParamType.UINT; value: number }
  | { field: string; type: TypedParamType.LLONG; value: bigint }
  | { field: string; type: TypedParamType.ULLONG; value: bigint }
  | { field: string; type: TypedParamType.DOUBLE; value: number }
  | { field: string; type: TypedParamType.BOOLEAN; value: boolean }
  | { field: string; type: TypedParamType.STRING; value: string };

/** libvirt's name of each type, as its error messages print it (`virTypedParameter` type names). */
const TYPE_NAMES: Readonly<Record<TypedParamType, string>> = {
  [TypedParamType.INT]: 'int',
  [TypedParamType.UINT]: 'uint',
  [TypedParamType.LLONG]: 'llong',
  [TypedParamType.ULLONG]: 'ullong',
  [TypedParamType.DOUBLE]: 'double',
  [TypedParamType.BOOLEAN]: 'boolean',
  [TypedParamType.STRING]: 'string',
};

/** Shorthand constructors. */
export const typedParam = {
  int: (field: string, value: number): TypedParam => ({ field, type: TypedParamType.INT, value }),
  uint: (field: string, value: number): TypedParam => ({ field, type: TypedParamType.UINT, value }),
  llong: (field: string, value: bigint): TypedParam => ({ field, type: TypedParamType.LLONG, value }),
  ullong: (field: string, value: bigint): TypedParam => ({ field, type: TypedParamType.ULLONG, value }),
  double: (field: string, value: number): TypedParam => ({ field, type: TypedParamType.DOUBLE, value }),
  boolean: (field: string, value: boolean): TypedParam => ({ field, type: TypedParamType.BOOLEAN, value }),
  string: (field: string, value: string): TypedParam => ({ field, type: TypedParamType.STRING, value }),
};

/** Writes one parameter: field string, i32 type, value. */
export function writeTypedParam(w: XdrWriter, p: TypedParam): void {
  w.string(p.field).i32(p.type);
  switch (p.type) {
    case TypedParamType.INT:
      w.i32(p.value);
      return;
    case TypedParamType.UINT:
      w.u32(p.value);
      return;
    case TypedParamType.LLONG:
      w.i64(p.value);
      return;
    case TypedParamType.ULLONG:
      w.u64(p.value);
      return;
    case TypedParamType.DOUBLE: {
      const b = Buffer.allocUnsafe(8);
      b.writeDoubleBE(p.value, 0);
      w.raw(b);
      return;
    }
    case TypedParamType.BOOLEAN:
      w.i32(p.value ? 1 : 0);
      return;
    case TypedParamType.STRING:
      w.string(p.value);
      return;
  }
}

/** Writes a variable-length array of parameters (`admin_typed_param params<max>`). */
export function writeTypedParams(w: XdrWriter, params: readonly TypedParam[]): void {
  w.u32(params.length);
  for (const p of params) writeTypedParam(w, p);
}

/**
 * Reads one parameter. An unknown type is undecodable, as for rpcgen's union without a default arm.
 * @param stringMax longest field or string value accepted
 * @throws XdrDecodeError
 */
export function readTypedParam(r: XdrReader, stringMax: number): TypedParam {
  const field = r.string(stringMax);
  const at = r.offset;
  const type = r.i32();
  switch (type) {
    case TypedParamType.INT:
      return { field, type, value: r.i32() };
    case TypedParamType.UINT:
      return { field, type, value: r.u32() };
    case TypedParamType.LLONG:
      return { field, type, value: r.i64() };
    case TypedParamType.ULLONG:
      return { field, type, value: r.u64() };
    case TypedParamType.DOUBLE:
      return { field, type, value: r.fixedOpaque(8).readDoubleBE(0) };
    case TypedParamType.BOOLEAN:
      // libvirt keeps any non-zero int as true.
      return { field, type, value: r.i32() !== 0 };
    case TypedParamType.STRING:
      return { field, type, value: r.string(stringMax) };
    default:
      throw new RangeError(`unknown typed parameter type ${type} at offset ${at}`);
  }
}

/**
 * Reads `params<max>`: more than `max` entries is undecodable.
 * @throws XdrDecodeError or RangeError (the dispatcher turns both into "Unable to decode message payload")
 */
export function readTypedParams(r: XdrReader, max: number, stringMax: number): TypedParam[] {
  const n = r.u32();
  if (n > max) throw new RangeError(`${n} typed parameters exceed the maximum of ${max}`);
  const params: TypedParam[] = [];
  for (let i = 0; i < n; i++) params.push(readTypedParam(r, stringMax));
  return params;
}

/** The first parameter named `field`, as libvirt's virTypedParamsGet. */
export function findTypedParam(params: readonly TypedParam[], field: string): TypedParam | undefined {
  return params.find((p) => p.field === field);
}

/**
 * `virTypedParamsValidate` as a daemon applies it to a received list: every field must be one of
 * `allowed` (else ARGUMENT_UNSUPPORTED "parameter '%s' not supported"), of the allowed type (else
 * INVALID_ARG "invalid type '%s' for parameter '%s', expected '%s'"), and appear once (else INVALID_ARG
 * "parameter '%s' occurs multiple times"). Errors carry domain NONE: virtypedparam.c reports them.
 * @throws VirError
 */
export function validateTypedParams(params: readonly TypedParam[], allowed: Readonly<Record<string, TypedParamType>>): void {
  const seen = new Set<string>();
  for (const p of params) {
    const expected = Object.prototype.hasOwnProperty.call(allowed, p.field) ? allowed[p.field] : undefined;
    if (expected === undefined) {
      throw VirError.report(VirErrorCode.ARGUMENT_UNSUPPORTED, VirErrorDomain.NONE, `parameter '${p.field}' not supported`);
    }
    if (p.type !== expected) {
      throw VirError.invalidArg(`invalid type '${TYPE_NAMES[p.type]}' for parameter '${p.field}', expected '${TYPE_NAMES[expected]}'`, VirErrorDomain.NONE);
    }
    if (seen.has(p.field)) throw VirError.invalidArg(`parameter '${p.field}' occurs multiple times`, VirErrorDomain.NONE);
    seen.add(p.field);
  }
}
