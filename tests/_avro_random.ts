/**
 * Seeded random Avro data for equivalence tests: any value a schema allows (ids across the whole
 * 64-bit range, NaN and infinities, empty and multi-block arrays, non-ASCII strings), and mock
 * packets made to fit an older or newer schema version.
 *
 * Values are shaped as avsc takes them (`long` as `bigint`, unions unwrapped), so avsc encodes
 * them and its full decode is the reference.
 *
 * @module
 */

import type avro from "avsc";
import { Buffer } from "node:buffer";

/** Limits of {@linkcode randomDatum}. */
export interface RandomOptions {
  /** Most items of one array or map. Default 6. */
  maxItems?: number;
  /** Most bytes of one `bytes` value. Default 24. */
  maxBytes?: number;
}

const SPECIAL_DOUBLES = [0, -0, NaN, Infinity, -Infinity, 1e-300, -1.7976931348623157e308];
const SPECIAL_LONGS = [
  0n,
  -1n,
  1n,
  (1n << 53n) + 1n,
  (1n << 63n) - 1n,
  -(1n << 63n),
  170028485706776685n,
];
const WORDS = ["", "g", "r", "DDF", "ComCam", "Ωμέγα", "𝛼-Cen", "a\u0000b"];

/**
 * A random value of a type.
 *
 * @param type The avsc type (`long` as `bigint`).
 * @param random Numbers in [0, 1), seeded.
 * @param options Sizes.
 * @returns The value.
 */
export function randomDatum(
  type: avro.Type,
  random: () => number,
  options: RandomOptions = {},
): unknown {
  const maxItems = options.maxItems ?? 6;
  const maxBytes = options.maxBytes ?? 24;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const walk = (t: avro.Type, depth: number): unknown => {
    const name = t.typeName;
    switch (name) {
      case "null":
        return null;
      case "boolean":
        return random() < 0.5;
      case "int":
        return random() < 0.3 ? pick([0, -1, 2147483647, -2147483648]) : _int32(random);
      case "long":
      case "abstract:long":
        return random() < 0.4 ? pick(SPECIAL_LONGS) : _int64(random);
      case "float":
        return random() < 0.2 ? pick(SPECIAL_DOUBLES) : Math.fround((random() - 0.5) * 1e6);
      case "double":
        return random() < 0.2 ? pick(SPECIAL_DOUBLES) : (random() - 0.5) * 10 ** (random() * 40);
      case "string":
        return pick(WORDS) + Math.floor(random() * 1000).toString(36);
      case "bytes":
        return Buffer.from(
          Array.from({ length: Math.floor(random() * maxBytes) }, () => random() * 256),
        );
      case "fixed":
        return Buffer.from(
          Array.from({ length: (t as avro.types.FixedType).size }, () => random() * 256),
        );
      case "enum":
        return pick((t as avro.types.EnumType).symbols);
      case "array": {
        const n = depth > 6 ? 0 : Math.floor(random() * (maxItems + 1));
        const items = (t as avro.types.ArrayType).itemsType;
        return Array.from({ length: n }, () => walk(items, depth + 1));
      }
      case "map": {
        const n = depth > 6 ? 0 : Math.floor(random() * (maxItems + 1));
        const values = (t as avro.types.MapType).valuesType;
        const out: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) out[`k${i}${pick(WORDS)}`] = walk(values, depth + 1);
        return out;
      }
      case "union:unwrapped": {
        const branches = (t as avro.types.UnwrappedUnionType).types;
        // Deep records end their recursion on the null branch when there is one.
        const nullable = branches.findIndex((b) => b.typeName === "null");
        const branch = depth > 8 && nullable >= 0 ? branches[nullable] : pick(branches);
        return walk(branch as avro.Type, depth + 1);
      }
      case "record":
      case "error": {
        const out: Record<string, unknown> = {};
        for (const field of (t as avro.types.RecordType).fields) {
          out[field.name] = walk(field.type, depth + 1);
        }
        return out;
      }
      default:
        throw new TypeError(`randomDatum does not handle ${name}`);
    }
  };
  return walk(type, 0);
}

/**
 * Make a value fit a record type: each field it has that the type accepts is kept, each other
 * field is drawn at random. Turns a v11.0 mock packet into a valid packet of any version.
 *
 * @param type The record type.
 * @param value The value to start from.
 * @param random Numbers in [0, 1), seeded.
 * @returns A value the type accepts.
 */
export function conformDatum(type: avro.Type, value: unknown, random: () => number): unknown {
  if (type.isValid(value)) return value;
  if (type.typeName === "union:unwrapped") {
    for (const branch of (type as avro.types.UnwrappedUnionType).types) {
      if (branch.typeName === "record" && typeof value === "object" && value !== null) {
        return conformDatum(branch, value, random);
      }
      if (branch.typeName === "array" && Array.isArray(value)) {
        return conformDatum(branch, value, random);
      }
    }
    return randomDatum(type, random);
  }
  if (type.typeName === "array" && Array.isArray(value)) {
    const items = (type as avro.types.ArrayType).itemsType;
    return value.map((item) => conformDatum(items, item, random));
  }
  if (type.typeName === "record" && typeof value === "object" && value !== null) {
    const source = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const field of (type as avro.types.RecordType).fields) {
      out[field.name] = field.name in source
        ? conformDatum(field.type, source[field.name], random)
        : randomDatum(field.type, random);
    }
    return out;
  }
  return randomDatum(type, random);
}

function _int32(random: () => number): number {
  return Math.floor(random() * 2 ** 32) - 2 ** 31;
}

// Lengths of every varint size: a uniform 64-bit draw would almost always take 10 bytes.
function _int64(random: () => number): bigint {
  const bits = 1 + Math.floor(random() * 63);
  const high = BigInt(Math.floor(random() * 2 ** 31)) << 32n;
  const magnitude = (high | BigInt(Math.floor(random() * 2 ** 32))) & ((1n << BigInt(bits)) - 1n);
  return random() < 0.5 ? -magnitude : magnitude;
}
