/**
 * A structural check of Avro binary data against its writer schema, run before a full decode.
 *
 * A general-purpose decoder trusts the counts and lengths it reads: an array block claiming two
 * billion items makes it loop two billion times, allocating as it goes. This check walks the
 * bytes once without allocating (a projection that keeps nothing), and rejects any length,
 * count, union branch or enum index that cannot be right for the bytes that remain.
 *
 * @module
 */

import { compileProjection, type ProjectionOptions } from "./avro_projection.ts";

/** Checks one datum starting at `offset`; returns the offset after it. */
export type AvroGuard = (bytes: Uint8Array, offset: number) => number;

/** Options of {@linkcode compileAvroGuard}. */
export type AvroGuardOptions = ProjectionOptions;

/**
 * Compile a check for data written with a schema.
 *
 * @param schema The writer schema (parsed JSON), named types inline or defined earlier.
 * @param options Limits.
 * @returns The check; it throws `RangeError` naming the byte offset and what is wrong.
 * @example
 * ```ts
 * import { compileAvroGuard } from "./avro_guard.ts";
 * const guard = compileAvroGuard({ type: "array", items: "long" });
 * guard(new Uint8Array([0x02, 0x04, 0x00]), 0); // 3
 * ```
 */
export function compileAvroGuard(schema: unknown, options: AvroGuardOptions = {}): AvroGuard {
  const project = compileProjection(schema, null, options);
  return (bytes, offset) => project(bytes, offset).end;
}
