/**
 * The names of Avro's primitive types, for the code that walks schemas by hand.
 *
 * @module
 */

/** `null`, `boolean`, `int`, `long`, `float`, `double`, `bytes`, `string`. */
export const AVRO_PRIMITIVES: ReadonlySet<string> = new Set([
  "null",
  "boolean",
  "int",
  "long",
  "float",
  "double",
  "bytes",
  "string",
]);
