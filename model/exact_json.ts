/**
 * JSON that keeps 64-bit ids exact: `bigint` values are written as integer literals (not rounded
 * through `number`, not quoted), and integers beyond 2^53 are read back as `bigint`.
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

/**
 * `JSON.parse` that reads integers beyond 2^53 as exact `bigint`s (plain `JSON.parse` turns
 * 170587117485817955 into 170587117485817950). Smaller integers and all other numbers stay
 * `number`.
 *
 * @param text JSON text.
 * @returns The value.
 * @throws {SyntaxError} When the text is not JSON.
 * @example
 * ```ts
 * import { parseExact } from "./exact_json.ts";
 * parseExact('{"id": 170587117485817955}'); // { id: 170587117485817955n }
 * ```
 */
export function parseExact(text: string): unknown {
  // The reviver's third argument (the source text of a primitive) ships in V8 (Deno 2).
  return JSON.parse(text, (_key, value, context?: { source?: string }) => {
    if (typeof value !== "number" || Number.isSafeInteger(value)) return value;
    const source = context?.source;
    return source !== undefined && /^-?\d+$/.test(source) ? BigInt(source) : value;
  });
}
