/**
 * Field checks shared by the packet mappers (`lsst_packet.ts`, `ztf_packet.ts`): each returns
 * the value in the record's type or throws a `TypeError` naming the field and its value, so
 * every survey reports a bad packet in the same words.
 *
 * @module
 */

/**
 * An Avro `long` id as a `bigint`. A safe-integer number is converted; a larger one has
 * already lost precision and is rejected.
 *
 * @param value The decoded value.
 * @param field The field's path, for the message.
 * @returns The id.
 * @throws {TypeError} When missing, not an integer, or beyond 2^53.
 */
export function asId(value: unknown, field: string): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isInteger(value)) {
    if (Number.isSafeInteger(value)) return BigInt(value);
    throw new TypeError(
      `Alert packet field "${field}" is beyond 2^53 and lost precision (decode Avro long as ` +
        `bigint): "${value}"`,
    );
  }
  throw fieldError(field, "an integer", value);
}

/**
 * An optional Avro `long` id: like {@linkcode asId}, with null and absent as `null`.
 *
 * @param value The decoded value.
 * @param field The field's path, for the message.
 * @returns The id, or `null`.
 * @throws {TypeError} When not an integer or beyond 2^53.
 */
export function asOptionalId(value: unknown, field: string): bigint | null {
  if (value === null || value === undefined) return null;
  return asId(value, field);
}

/**
 * A required finite number.
 *
 * @param value The decoded value.
 * @param field The field's path, for the message.
 * @returns The number.
 * @throws {TypeError} When missing, not a number, NaN or infinite.
 */
export function asFinite(value: unknown, field: string): number {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  throw fieldError(field, "a finite number", value);
}

/**
 * An optional number. NaN becomes `null`: real alerts carry NaN for "not measured", SQLite
 * stores NaN as NULL anyway, and `null` keeps "not measured" one value everywhere.
 *
 * @param value The decoded value.
 * @param field The field's path, for the message.
 * @returns The number, or `null`.
 * @throws {TypeError} When present but not a number.
 */
export function asFloat(value: unknown, field: string): number | null {
  if (typeof value === "number") return value === value ? value : null;
  if (value === null || value === undefined) return null;
  throw fieldError(field, "a number", value);
}

/**
 * An optional integer.
 *
 * @param value The decoded value.
 * @param field The field's path, for the message.
 * @returns The integer, or `null`.
 * @throws {TypeError} When present but not an integer.
 */
export function asInt(value: unknown, field: string): number | null {
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (value === null || value === undefined) return null;
  throw fieldError(field, "an integer", value);
}

/**
 * An optional string.
 *
 * @param value The decoded value.
 * @param field The field's path, for the message.
 * @returns The string, or `null`.
 * @throws {TypeError} When present but not a string.
 */
export function asString(value: unknown, field: string): string | null {
  if (typeof value === "string") return value;
  if (value === null || value === undefined) return null;
  throw fieldError(field, "a string", value);
}

/**
 * Optional bytes, passed through without copying (a `Buffer` stays a `Buffer`).
 *
 * @param value The decoded value.
 * @param field The field's path, for the message.
 * @returns The bytes, or `null`.
 * @throws {TypeError} When present but not a `Uint8Array`.
 */
export function asBytes(value: unknown, field: string): Uint8Array | null {
  if (value instanceof Uint8Array) return value;
  if (value === null || value === undefined) return null;
  throw fieldError(field, "bytes", value);
}

/**
 * The error for a field that is missing or has the wrong type.
 *
 * @param field The field's path.
 * @param expected What it should be, such as `"a finite number"`.
 * @param value What it is.
 * @returns The error, for the caller to throw.
 */
export function fieldError(field: string, expected: string, value: unknown): TypeError {
  if (value === undefined) return new TypeError(`Alert packet field "${field}" is missing`);
  return new TypeError(`Alert packet field "${field}" is not ${expected}: ${showValue(value)}`);
}

/**
 * A value as an error message shows it: scalars quoted and cut to 60 characters, containers
 * by kind only.
 *
 * @param value Any value.
 * @returns Its description.
 */
export function showValue(value: unknown): string {
  if (value === null) return `"null"`;
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "bytes";
  if (typeof value === "object") return "a record";
  if (typeof value === "function") return "a function";
  const text = String(value);
  return `"${text.length > 60 ? `${text.slice(0, 57)}...` : text}"`;
}
