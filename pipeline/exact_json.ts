/**
 * JSON output that keeps 64-bit ids exact: `bigint` values are written as integer literals, not
 * rounded through `number` and not quoted.
 *
 * @module
 */

// JSON.rawJSON ships in V8 (Deno 2) but not yet in TypeScript's lib.
const _raw = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/**
 * `JSON.stringify` that writes `bigint` values exactly.
 *
 * @param value What to serialise.
 * @param space Indentation, as for `JSON.stringify`. Default none.
 * @returns The JSON text.
 * @example
 * ```ts
 * import { stringifyExact } from "./exact_json.ts";
 * stringifyExact({ id: 170587117485817955n }); // '{"id":170587117485817955}'
 * ```
 */
export function stringifyExact(value: unknown, space?: number): string {
  return JSON.stringify(
    value,
    (_key, v) => typeof v === "bigint" ? _raw(v.toString()) : v,
    space,
  ) ?? "null";
}
