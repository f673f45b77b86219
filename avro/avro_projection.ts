/**
 * A decoder compiled from a writer schema that materialises only selected fields and skips
 * everything else without allocating, while still checking the structure: every length and
 * array count is checked against the bytes left, every union branch and enum index against the
 * schema, so corrupt input raises a `RangeError` instead of reading garbage.
 *
 * A real Rubin alert with a long history holds ~40,000 values, of which the pipeline needs a
 * few hundred: a full decode (avsc) allocates them all; this one reads them once and keeps what
 * is asked for. The code is generated per schema and selection (`new Function`), so the hot
 * loops are straight-line code the JIT compiles well.
 *
 * @module
 */

import { AVRO_PRIMITIVES } from "./_avro_primitives.ts";

/**
 * Which fields to materialise: `true` keeps a field whole (longs as `bigint`, bytes as a view
 * into the input, records and arrays decoded in full), a nested selection keeps some fields of
 * a record (through unions and arrays of it).
 */
export interface Selection {
  /** A field to keep: whole (`true`) or some of its fields. */
  [field: string]: true | Selection;
}

/** A compiled projection: decodes one datum at `offset`. */
export type Projection = (bytes: Uint8Array, offset: number) => ProjectedDatum;

/** What a projection returns. */
export interface ProjectedDatum {
  /**
   * The selected fields, nested as in the schema (a record becomes an object); the whole datum
   * for selection `true`; `undefined` for selection `null`.
   */
  value: unknown;
  /** The offset after the datum. */
  end: number;
}

/** Options of {@linkcode compileProjection}. */
export interface ProjectionOptions {
  /** Most items one array or map may hold, even of zero-byte items. Default 10,000,000. */
  maxItems?: number;
}

type Node = unknown;

/**
 * Compile a projection of data written with a schema.
 *
 * @param schema The writer schema (parsed JSON; named types inline or defined earlier).
 * @param selection What to keep (fields it names that the schema lacks are ignored); `true` for
 * everything, `null` for nothing (a structural check only).
 * @param options Limits.
 * @returns The projection; it throws `RangeError` naming the byte offset and what is wrong.
 * @example
 * ```ts
 * import { compileProjection } from "./avro_projection.ts";
 * const project = compileProjection(
 *   { type: "record", name: "r", fields: [{ name: "a", type: "long" }, { name: "b", type: "string" }] },
 *   { a: true },
 * );
 * project(new Uint8Array([0x04, 0x02, 0x78]), 0).value; // { a: 2n }
 * ```
 */
export function compileProjection(
  schema: unknown,
  selection: Selection | true | null,
  options: ProjectionOptions = {},
): Projection {
  return new _Compiler(options.maxItems ?? 10_000_000).compile(schema, selection);
}

// ---------------------------------------------------------------------------------------------
// Code generation. Generated functions take (b, p, v) — the bytes, the position, a DataView —
// and return the new position; they store values in `out` objects or return them through the
// shared state `S.x`. Runtime helpers live in `R`.

class _Compiler {
  #maxItems: number;
  #named = new Map<string, Record<string, unknown>>();
  #functions: string[] = [];
  #cache = new Map<string, string>();
  #counter = 0;

  constructor(maxItems: number) {
    this.#maxItems = maxItems;
  }

  compile(schema: Node, selection: Selection | true | null): Projection {
    const root = this.#reader(schema, null, selection);
    const source = `"use strict";
${this.#functions.join("\n")}
return function project(b, p) {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  S.x = undefined;
  const end = ${root}(b, p, v);
  if (end > b.length) R.truncated(b, p, "the datum");
  return { value: S.x, end };
};`;
    return new Function("R", "S", source)(_RUNTIME, { x: undefined }) as Projection;
  }

  // The name of a generated function that reads (selection) or skips (null) a node, leaving a
  // read value in S.x.
  #reader(node: Node, namespace: string | null, selection: Selection | true | null): string {
    const resolved = this.#resolve(node, namespace);
    const key = `${resolved.key}|${
      selection === null ? "skip" : selection === true ? "all" : JSON.stringify(selection)
    }`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const name = `f${this.#counter++}`;
    this.#cache.set(key, name);
    this.#functions.push(this.#generate(name, resolved, selection));
    return name;
  }

  #resolve(node: Node, namespace: string | null): {
    key: string;
    schema: Record<string, unknown> | string | Node[];
    namespace: string | null;
  } {
    if (typeof node === "string") {
      if (AVRO_PRIMITIVES.has(node)) return { key: node, schema: node, namespace };
      const full = node.includes(".") || namespace === null ? node : `${namespace}.${node}`;
      const named = this.#named.get(full) ?? this.#named.get(node);
      if (named === undefined) throw new TypeError(`Unknown Avro type "${node}"`);
      const fullName = _fullName(named, null);
      return { key: fullName, schema: named, namespace: _namespaceOf(fullName) };
    }
    if (Array.isArray(node)) {
      return { key: `union${this.#counter++}`, schema: node, namespace };
    }
    if (typeof node !== "object" || node === null) throw new TypeError("Invalid Avro schema");
    const s = node as Record<string, unknown>;
    if (typeof s.type === "string" && AVRO_PRIMITIVES.has(s.type)) {
      return { key: s.type, schema: s.type, namespace };
    }
    if (s.type === "record" || s.type === "error" || s.type === "enum" || s.type === "fixed") {
      const full = _fullName(s, namespace);
      if (!this.#named.has(full)) this.#named.set(full, s);
      return { key: full, schema: s, namespace: _namespaceOf(full) };
    }
    if (s.type === "array" || s.type === "map") {
      return { key: `${s.type}${this.#counter++}`, schema: s, namespace };
    }
    return this.#resolve(s.type, namespace);
  }

  #generate(
    name: string,
    resolved: { schema: Record<string, unknown> | string | Node[]; namespace: string | null },
    selection: Selection | true | null,
  ): string {
    const { schema, namespace } = resolved;
    const keep = selection !== null;
    if (typeof schema === "string") {
      return `function ${name}(b, p, v) {\n${_primitive(schema, keep)}\n}`;
    }
    if (Array.isArray(schema)) {
      const branches = schema.map((branch) => this.#reader(branch, namespace, selection));
      const cases = branches.map((f, i) => `    case ${i}: return ${f}(b, p, v);`).join("\n");
      return `function ${name}(b, p, v) {
  const at = p;
  const i = R.index(b, p); p = R.p;
  switch (i) {
${cases}
    default: R.fail("Union branch " + i + " at byte " + at + " does not exist (the union has ${branches.length})");
  }
}`;
    }
    switch (schema.type) {
      case "record":
      case "error":
        return this.#record(name, schema, namespace, selection);
      case "enum": {
        const symbols = JSON.stringify(schema.symbols);
        return `function ${name}(b, p, v) {
  const at = p;
  const i = R.index(b, p); p = R.p;
  const symbols = ${symbols};
  if (i >= symbols.length) R.fail("Enum index " + i + " at byte " + at + " is not one of " + symbols.length + " symbols");
  ${keep ? "S.x = symbols[i];" : ""}
  return p;
}`;
      }
      case "fixed":
        return `function ${name}(b, p, v) {
  if (p + ${Number(schema.size)} > b.length) R.truncated(b, p, "a fixed value");
  ${keep ? `S.x = b.subarray(p, p + ${Number(schema.size)});` : ""}
  return p + ${Number(schema.size)};
}`;
      case "array":
      case "map":
        return this.#collection(name, schema, namespace, selection);
      default:
        throw new TypeError(`Unsupported Avro type "${String(schema.type)}"`);
    }
  }

  #record(
    name: string,
    schema: Record<string, unknown>,
    namespace: string | null,
    selection: Selection | true | null,
  ): string {
    const fields = schema.fields as Array<{ name: string; type: Node }>;
    const lines: string[] = [];
    const keep = selection !== null;
    for (const field of fields) {
      const wanted = selection === null
        ? null
        : selection === true
        ? true
        : selection[field.name] ?? null;
      const target = wanted === null ? null : `out[${JSON.stringify(field.name)}]`;
      const inline = this.#inline(field.type, namespace, wanted, target);
      if (inline !== null) {
        lines.push(inline);
        continue;
      }
      const reader = this.#reader(field.type, namespace, wanted);
      lines.push(
        target === null
          ? `  p = ${reader}(b, p, v);`
          : `  p = ${reader}(b, p, v); ${target} = S.x;`,
      );
    }
    return `function ${name}(b, p, v) {
  ${keep ? "const out = {};" : ""}
${lines.join("\n")}
  ${keep ? "S.x = out;" : ""}
  return p;
}`;
  }

  // Straight-line code for a primitive, or a union of primitives, read in place: most fields of
  // an alert are nullable numbers, and a call per value is what makes skipping slow. Returns
  // null when the type needs its own function. Unusual bytes (a branch out of range, data that
  // ends early) fall back to the generic function, which raises the precise error.
  #inline(
    node: Node,
    namespace: string | null,
    selection: Selection | true | null,
    target: string | null,
  ): string | null {
    const resolved = this.#resolve(node, namespace);
    const { schema } = resolved;
    if (typeof schema === "string") return _inlinePrimitive(schema, target);
    if (!Array.isArray(schema) || schema.length > 63) return null;
    const branches: string[] = [];
    for (let i = 0; i < schema.length; i++) {
      const branch = this.#resolve(schema[i], namespace).schema;
      if (typeof branch !== "string") return null;
      const code = _inlinePrimitive(branch, target);
      if (code === null) return null;
      branches.push(`    case ${2 * i}: p += 1;\n${code}\n      break;`);
    }
    const slow = this.#reader(node, namespace, selection);
    return `  switch (b[p]) {
${branches.join("\n")}
    default: p = ${slow}(b, p, v);${target === null ? "" : ` ${target} = S.x;`}
  }`;
  }

  #collection(
    name: string,
    schema: Record<string, unknown>,
    namespace: string | null,
    selection: Selection | true | null,
  ): string {
    const isMap = schema.type === "map";
    const itemType = isMap ? schema.values : schema.items;
    const keep0 = selection !== null;
    const itemInline = this.#inline(itemType, namespace, selection, keep0 ? "S.x" : null);
    const item = itemInline === null ? this.#reader(itemType, namespace, selection) : null;
    const minimum = this.#minimumSize(isMap ? schema.values : schema.items, namespace) +
      (isMap ? 1 : 0);
    const keep = selection !== null;
    const key = isMap
      ? (keep ? "const k = R.string(b, p); p = R.p;" : 'p = R.skipBytes(b, p, "string");')
      : "";
    const store = keep ? (isMap ? "out[k] = S.x;" : "out.push(S.x);") : "";
    const itemCode = `${itemInline ?? `p = ${item}(b, p, v);`}\n      ${store}`;
    return `function ${name}(b, p, v) {
  ${keep ? (isMap ? "const out = {};" : "const out = [];") : ""}
  let total = 0;
  for (;;) {
    const at = p;
    let n = R.count(b, p); p = R.p;
    if (n === 0) break;
    if (n < 0) { n = -n; R.count(b, p); p = R.p; }
    total += n;
    if (total > ${this.#maxItems} || ${minimum} * n > b.length - p) {
      R.fail("Block at byte " + at + " claims " + n + " items but only " + (b.length - p) + " bytes remain");
    }
    for (let i = 0; i < n; i++) {
      ${key}
      ${itemCode}
    }
  }
  ${keep ? "S.x = out;" : ""}
  return p;
}`;
  }

  // The fewest bytes one datum of a type can take: bounds an array's plausible count.
  #minimumSize(node: Node, namespace: string | null, depth = 0): number {
    if (depth > 20) return 0;
    const { schema, namespace: inner } = this.#resolve(node, namespace);
    if (typeof schema === "string") {
      return schema === "null" ? 0 : schema === "float" ? 4 : schema === "double" ? 8 : 1;
    }
    if (Array.isArray(schema)) return 1;
    if (schema.type === "fixed") return Number(schema.size);
    if (schema.type === "record" || schema.type === "error") {
      return (schema.fields as Array<{ type: Node }>).reduce(
        (sum, f) => sum + this.#minimumSize(f.type, inner, depth + 1),
        0,
      );
    }
    return 1;
  }
}

function _primitive(type: string, keep: boolean): string {
  switch (type) {
    case "null":
      return keep ? "  S.x = null;\n  return p;" : "  return p;";
    case "boolean":
      return `  const x = b[p];
  if (x !== 0 && x !== 1) R.badBoolean(b, p);
  ${keep ? "S.x = x === 1;" : ""}
  return p + 1;`;
    case "int":
      return keep ? "  S.x = R.int(b, p);\n  return R.p;" : "  return R.skipVarint(b, p);";
    case "long":
      return keep ? "  S.x = R.long(b, p);\n  return R.p;" : "  return R.skipVarint(b, p);";
    case "float":
      return `  if (p + 4 > b.length) R.truncated(b, p, "a float");
  ${keep ? "S.x = v.getFloat32(p, true);" : ""}
  return p + 4;`;
    case "double":
      return `  if (p + 8 > b.length) R.truncated(b, p, "a double");
  ${keep ? "S.x = v.getFloat64(p, true);" : ""}
  return p + 8;`;
    case "bytes":
      return keep
        ? "  S.x = R.bytes(b, p);\n  return R.p;"
        : '  return R.skipBytes(b, p, "bytes");';
    default: // string
      return keep
        ? "  S.x = R.string(b, p);\n  return R.p;"
        : '  return R.skipBytes(b, p, "string");';
  }
}

// A primitive read at `p` (already past any union index), stored in `target` when not null.
function _inlinePrimitive(type: string, target: string | null): string | null {
  switch (type) {
    case "null":
      return target === null ? "" : `      ${target} = null;`;
    case "float":
    case "double": {
      const size = type === "float" ? 4 : 8;
      const read = type === "float" ? "getFloat32" : "getFloat64";
      return `      if (p + ${size} > b.length) R.truncated(b, p, "a ${type}");
      ${target === null ? "" : `${target} = v.${read}(p, true);`}
      p += ${size};`;
    }
    case "boolean":
      return `      if (b[p] !== 0 && b[p] !== 1) R.badBoolean(b, p);
      ${target === null ? "" : `${target} = b[p] === 1;`}
      p += 1;`;
    case "int":
    case "long":
      if (target !== null) return `      ${target} = R.${type}(b, p); p = R.p;`;
      return "      if (b[p] < 0x80) p += 1; else p = R.skipVarint(b, p);";
    case "string":
    case "bytes":
      if (target !== null) return `      ${target} = R.${type}(b, p); p = R.p;`;
      return `      p = R.skipBytes(b, p, "${type}");`;
    default:
      return null;
  }
}

function _fullName(s: Record<string, unknown>, namespace: string | null): string {
  const name = String(s.name);
  if (name.includes(".")) return name;
  const ns = typeof s.namespace === "string" ? s.namespace : namespace;
  return ns ? `${ns}.${name}` : name;
}

function _namespaceOf(full: string): string | null {
  const dot = full.lastIndexOf(".");
  return dot < 0 ? null : full.slice(0, dot);
}

// Runtime helpers shared by generated code. `p` returns a second value (the new position)
// without allocating a tuple.
const _decoder = new TextDecoder();
// Longest string built byte by byte when it is ASCII; longer ones are decoded natively.
const SHORT_STRING = 32;
const _RUNTIME = {
  p: 0,
  fail(message: string): never {
    throw new RangeError(message);
  },
  truncated(b: Uint8Array, p: number, what: string): never {
    throw new RangeError(
      `Data ends inside ${what} at byte ${p} (${Math.max(0, b.length - p)} bytes left)`,
    );
  },
  badBoolean(b: Uint8Array, p: number): never {
    if (p >= b.length) this.truncated(b, p, "a boolean");
    throw new RangeError(`Invalid boolean ${b[p]} at byte ${p}`);
  },
  // A union branch or enum index: small non-negative ints.
  index(b: Uint8Array, p: number): number {
    const x = b[p];
    if (x !== undefined && x < 0x80) {
      this.p = p + 1;
      if (x & 1) this.fail(`Negative index at byte ${p}`);
      return x >> 1;
    }
    const value = this.int(b, p);
    if (value < 0) this.fail(`Negative index at byte ${p}`);
    return value;
  },
  // A block count or length: exact to 2^53, which no plausible count reaches.
  count(b: Uint8Array, p: number): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const byte = b[p + i] ?? this.truncated(b, p, "a varint");
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        this.p = p + i + 1;
        return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      }
      scale *= 128;
    }
    return this.fail(`Varint at byte ${p} is longer than 10 bytes`);
  },
  int(b: Uint8Array, p: number): number {
    let value = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const byte = b[p + i] ?? this.truncated(b, p, "a varint");
      value |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.p = p + i + 1;
        return (value >>> 1) ^ -(value & 1);
      }
      shift += 7;
    }
    return this.fail(`Int at byte ${p} is longer than 5 bytes`);
  },
  long(b: Uint8Array, p: number): bigint {
    // Two 32-bit halves keep it exact without a BigInt per byte.
    let lo = 0;
    let hi = 0;
    let i = 0;
    let byte = 0x80;
    for (; i < 4 && byte >= 0x80; i++) {
      byte = b[p + i] ?? this.truncated(b, p, "a varint");
      lo |= (byte & 0x7f) << (7 * i);
    }
    if (byte >= 0x80) {
      byte = b[p + 4] ?? this.truncated(b, p, "a varint");
      lo |= (byte & 0x0f) << 28;
      hi = (byte & 0x7f) >> 4;
      i = 5;
      for (let shift = 3; byte >= 0x80; shift += 7, i++) {
        if (i >= 10) this.fail(`Long at byte ${p} is longer than 10 bytes`);
        byte = b[p + i] ?? this.truncated(b, p, "a varint");
        hi |= (byte & 0x7f) << shift;
      }
    }
    this.p = p + i;
    const unsigned = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    return (unsigned >> 1n) ^ -(unsigned & 1n);
  },
  skipVarint(b: Uint8Array, p: number): number {
    for (let i = 0; i < 10; i++) {
      const byte = b[p + i] ?? this.truncated(b, p, "a varint");
      if (byte < 0x80) return p + i + 1;
    }
    return this.fail(`Varint at byte ${p} is longer than 10 bytes`);
  },
  skipBytes(b: Uint8Array, p: number, type: string): number {
    const length = this.count(b, p);
    const at = this.p;
    if (length < 0) this.fail(`Negative length ${length} at byte ${p}`);
    if (at + length > b.length) this.truncated(b, at, `${type} of ${length} bytes`);
    return at + length;
  },
  bytes(b: Uint8Array, p: number, type = "bytes"): Uint8Array {
    const end = this.skipBytes(b, p, type);
    const view = b.subarray(this.p, end);
    this.p = end;
    return view;
  },
  string(b: Uint8Array, p: number): string {
    const end = this.skipBytes(b, p, "string");
    const at = this.p;
    this.p = end;
    // An alert's strings are short and ASCII (bands, names): built here, they skip TextDecoder's
    // cost per call, which is ten times this loop's, forty on shared memory (Kafka's messages).
    // Read in place rather than through bytes(): a view per string cost ~1.5x the loop.
    if (end - at <= SHORT_STRING) {
      let text = "";
      let i = at;
      for (; i < end && (b[i] as number) <= 0x7f; i++) text += String.fromCharCode(b[i] as number);
      if (i === end) return text;
    }
    return _decoder.decode(b.subarray(at, end));
  },
};
