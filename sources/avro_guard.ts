/**
 * A structural check of Avro binary data against its writer schema, run before a full decode.
 *
 * A general-purpose decoder trusts the counts and lengths it reads: an array block claiming two
 * billion items makes it loop two billion times, allocating as it goes. This check walks the
 * bytes once without allocating, and rejects any length, count, union branch or enum index that
 * cannot be right for the bytes that remain.
 *
 * @module
 */

/** Checks one datum starting at `offset`; returns the offset after it. */
export type AvroGuard = (bytes: Uint8Array, offset: number) => number;

/** Options of {@linkcode compileAvroGuard}. */
export interface AvroGuardOptions {
  /** Most items one array or map may hold, even of zero-byte items. Default 10,000,000. */
  maxItems?: number;
}

type Schema = unknown;
type Check = (bytes: Uint8Array, at: number) => number;

const PRIMITIVES = new Set([
  "null",
  "boolean",
  "int",
  "long",
  "float",
  "double",
  "bytes",
  "string",
]);

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
  const maxItems = options.maxItems ?? 10_000_000;
  const named = new Map<string, { check: Check | null; min: number }>();

  const compile = (node: Schema, namespace: string | null): { check: Check; min: number } => {
    if (typeof node === "string") {
      if (PRIMITIVES.has(node)) return primitive(node);
      const full = node.includes(".") || namespace === null ? node : `${namespace}.${node}`;
      const entry = named.get(full) ?? named.get(node);
      if (entry === undefined) throw new TypeError(`Unknown Avro type "${node}"`);
      // A reference may be to a record still being compiled (recursion): look it up late.
      return { check: (b, at) => (entry.check as Check)(b, at), min: entry.min };
    }
    if (Array.isArray(node)) return union(node, namespace);
    if (typeof node !== "object" || node === null) throw new TypeError("Invalid Avro schema");
    const s = node as Record<string, unknown>;
    const type = s.type;
    // Logical types (timestamps, decimals) are encoded as their underlying type.
    if (typeof type === "string" && PRIMITIVES.has(type)) return primitive(type);
    switch (type) {
      case "record":
      case "error":
        return record(s, namespace);
      case "enum":
        return enumeration(s, namespace);
      case "fixed":
        return fixed(s, namespace);
      case "array": {
        const items = compile(s.items, namespace);
        return { check: blocks(items, null), min: 1 };
      }
      case "map": {
        const values = compile(s.values, namespace);
        return { check: blocks(values, primitive("string")), min: 1 };
      }
      default:
        return compile(type, namespace);
    }
  };

  const fullName = (s: Record<string, unknown>, namespace: string | null): string => {
    const name = String(s.name);
    if (name.includes(".")) return name;
    const ns = typeof s.namespace === "string" ? s.namespace : namespace;
    return ns ? `${ns}.${name}` : name;
  };

  const record = (s: Record<string, unknown>, namespace: string | null) => {
    const full = fullName(s, namespace);
    const inner = full.includes(".") ? full.slice(0, full.lastIndexOf(".")) : null;
    const entry: { check: Check | null; min: number } = { check: null, min: 0 };
    named.set(full, entry);
    const fields = (s.fields as Array<{ type: Schema }>).map((f) => compile(f.type, inner));
    const checks = fields.map((f) => f.check);
    entry.min = fields.reduce((sum, f) => sum + f.min, 0);
    entry.check = (b, at) => {
      for (let i = 0; i < checks.length; i++) at = (checks[i] as Check)(b, at);
      return at;
    };
    return { check: entry.check, min: entry.min };
  };

  const enumeration = (s: Record<string, unknown>, namespace: string | null) => {
    const symbols = (s.symbols as unknown[]).length;
    const check: Check = (b, at) => {
      const [index, next] = _long(b, at);
      if (index < 0 || index >= symbols) {
        throw new RangeError(`Enum index ${index} at byte ${at} is not one of ${symbols} symbols`);
      }
      return next;
    };
    named.set(fullName(s, namespace), { check, min: 1 });
    return { check, min: 1 };
  };

  const fixed = (s: Record<string, unknown>, namespace: string | null) => {
    const size = Number(s.size);
    const check: Check = (b, at) => _need(b, at, size, "a fixed value");
    named.set(fullName(s, namespace), { check, min: size });
    return { check, min: size };
  };

  const union = (branches: Schema[], namespace: string | null) => {
    const compiled = branches.map((b) => compile(b, namespace));
    const checks = compiled.map((c) => c.check);
    return {
      check: (b: Uint8Array, at: number) => {
        const [index, next] = _long(b, at);
        const branch = checks[index];
        if (branch === undefined) {
          throw new RangeError(
            `Union branch ${index} at byte ${at} does not exist (the union has ${checks.length})`,
          );
        }
        return branch(b, next);
      },
      min: 1,
    };
  };

  // Arrays and maps: blocks of items, each block a count (negative: followed by a byte size).
  const blocks = (
    item: { check: Check; min: number },
    key: { check: Check; min: number } | null,
  ) => {
    const min = item.min + (key?.min ?? 0);
    return (b: Uint8Array, at: number): number => {
      let total = 0;
      for (;;) {
        const start = at;
        let [count, next] = _long(b, at);
        at = next;
        if (count === 0) return at;
        if (count < 0) {
          count = -count;
          [, at] = _long(b, at);
        }
        total += count;
        const left = b.length - at;
        if (total > maxItems || (min > 0 && count * min > left)) {
          throw new RangeError(
            `Block at byte ${start} claims ${count} items but only ${left} bytes remain`,
          );
        }
        for (let i = 0; i < count; i++) {
          if (key !== null) at = key.check(b, at);
          at = item.check(b, at);
        }
      }
    };
  };

  const primitive = (type: string): { check: Check; min: number } => {
    switch (type) {
      case "null":
        return { check: (_b, at) => at, min: 0 };
      case "boolean":
        return {
          check: (b, at) => {
            _need(b, at, 1, "a boolean");
            if ((b[at] as number) > 1) throw new RangeError(`Invalid boolean at byte ${at}`);
            return at + 1;
          },
          min: 1,
        };
      case "int":
      case "long":
        return { check: (b, at) => _long(b, at)[1], min: 1 };
      case "float":
        return { check: (b, at) => _need(b, at, 4, "a float"), min: 4 };
      case "double":
        return { check: (b, at) => _need(b, at, 8, "a double"), min: 8 };
      default: // bytes, string
        return {
          check: (b, at) => {
            const [length, next] = _long(b, at);
            if (length < 0) throw new RangeError(`Negative length ${length} at byte ${at}`);
            return _need(b, next, length, `${type} of ${length} bytes`);
          },
          min: 1,
        };
    }
  };

  const root = compile(schema, null).check;
  return (bytes, offset) => root(bytes, offset);
}

function _need(b: Uint8Array, at: number, n: number, what: string): number {
  if (at + n > b.length) {
    throw new RangeError(`Data ends inside ${what} at byte ${at} (${b.length - at} bytes left)`);
  }
  return at + n;
}

// A zig-zag varint as a JS number: exact to 2^53, and any larger value is too large to be a
// count or length anyway (ids are not checked beyond their encoding).
function _long(b: Uint8Array, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    const byte = b[at + i];
    if (byte === undefined) throw new RangeError(`Data ends inside a varint at byte ${at}`);
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      // Zig-zag: even n → n/2, odd n → -(n+1)/2.
      const decoded = value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      return [decoded, at + i + 1];
    }
    scale *= 128;
  }
  throw new RangeError(`Varint at byte ${at} is longer than 10 bytes`);
}
