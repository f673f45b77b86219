/**
 * Make ZTF's embedded alert schemas acceptable to strict Avro libraries.
 *
 * ZTF schemas 3.x and 4.x declare `"default": null` on unions such as `["float", "null"]`. The
 * Avro specification says a union's default must match its first branch, so avsc refuses the
 * whole schema. A field default is only read when a reader schema has a field the writer lacks;
 * it plays no part in decoding bytes written with the schema itself. Dropping an invalid default
 * therefore changes nothing about how an alert decodes, while "fixing" it (reordering the union)
 * would change the binary encoding.
 *
 * @module
 */

import { AVRO_PRIMITIVES } from "../avro/_avro_primitives.ts";

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;
// Avro encodes bytes and fixed defaults as JSON strings of code points 0-255.
const BYTE_STRING = /^[^\u0100-\uffff]*$/;
const NAMED = new Set(["record", "error", "enum", "fixed"]);
type _Node = Record<string, unknown>;

interface _Context {
  /** Named types by full name. */
  names: Map<string, _Node>;
  /** The namespace each named type's own references resolve in. */
  spaces: Map<_Node, string>;
  /** Fields whose default is being checked, so that a recursive record default terminates. */
  busy: Set<_Node>;
}

/**
 * Return a deep copy of an Avro schema without the defaults that are invalid for their type, so
 * that strict libraries (avsc) accept ZTF's embedded schemas.
 *
 * Checked as the Avro specification defines them: field defaults (a union's against its first
 * branch, named types resolved through namespaces, records, arrays, maps, enums, fixed and
 * bytes in their JSON form, int within 32 bits, long within 64 bits, float and double as JSON
 * numbers) and enum-level defaults (which must be one of the symbols). Valid defaults and
 * everything else are kept as they are. A default whose type cannot be resolved (an unknown
 * name) is kept too: the schema is broken in a way this function does not judge.
 *
 * @param schema The schema as parsed JSON (an object, array or type name), such as the
 * `avro.schema` metadata of a ZTF alert's Object Container File. It is not modified.
 * @returns The copy; it shares no objects with `schema`.
 * @example
 * ```ts
 * import { relaxZtfSchema } from "./ztf_schema.ts";
 * const relaxed = relaxZtfSchema({
 *   type: "record",
 *   name: "candidate",
 *   fields: [{ name: "magpsf", type: ["float", "null"], default: null }],
 * }) as { fields: { default?: unknown }[] };
 * "default" in relaxed.fields[0]!; // false
 * ```
 */
export function relaxZtfSchema(schema: unknown): unknown {
  const copy = _copyJson(schema);
  const context: _Context = { names: new Map(), spaces: new Map(), busy: new Set() };
  // Names first: a default may name a type defined later in the walk.
  _walk(copy, "", context, () => {});
  _walk(copy, "", context, (node, space) => {
    if (node.type === "enum" && "default" in node && !_isSymbol(node, node.default)) {
      delete node.default;
    }
    if (node.type !== "record" && node.type !== "error") return;
    for (const field of _fields(node)) {
      if ("default" in field && !_isValid(field.type, field.default, space, context)) {
        delete field.default;
      }
    }
  });
  return copy;
}

function _copyJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(_copyJson);
  if (typeof value === "object" && value !== null) {
    const copy: _Node = {};
    for (const [key, item] of Object.entries(value)) {
      // defineProperty: a JSON key "__proto__" (schemas come from the network) stays data.
      Object.defineProperty(copy, key, {
        value: _copyJson(item),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return copy;
  }
  return value;
}

// Visits every type node (record, enum, array, …) once, with the namespace its references
// resolve in, registering named types on the way.
function _walk(
  type: unknown,
  space: string,
  context: _Context,
  visit: (node: _Node, space: string) => void,
): void {
  if (Array.isArray(type)) {
    for (const branch of type) _walk(branch, space, context, visit);
    return;
  }
  if (!_isNode(type)) return;
  if (typeof type.type === "object" && type.type !== null) {
    // `{"type": {"type": "record", …}}`: the wrapper adds nothing but attributes.
    _walk(type.type, space, context, visit);
    return;
  }
  let inner = space;
  if (typeof type.type === "string" && NAMED.has(type.type)) {
    const fullName = _fullName(type, space);
    if (fullName !== null) {
      inner = _namespaceOf(fullName);
      context.names.set(fullName, type);
      context.spaces.set(type, inner);
    }
  }
  visit(type, inner);
  switch (type.type) {
    case "record":
    case "error":
      for (const field of _fields(type)) _walk(field.type, inner, context, visit);
      break;
    case "array":
      _walk(type.items, space, context, visit);
      break;
    case "map":
      _walk(type.values, space, context, visit);
      break;
  }
}

function _isValid(type: unknown, value: unknown, space: string, context: _Context): boolean {
  if (Array.isArray(type)) {
    return type.length > 0 && _isValid(type[0], value, space, context);
  }
  if (typeof type === "string") {
    if (AVRO_PRIMITIVES.has(type)) return _isPrimitive(type, value);
    const named = _lookup(type, space, context);
    return named === undefined ? true : _isValid(named, value, space, context);
  }
  if (!_isNode(type)) return true;
  const kind = type.type;
  if (typeof kind === "object" && kind !== null) return _isValid(kind, value, space, context);
  if (typeof kind !== "string") return true;
  // A logical type is checked by its underlying type.
  if (AVRO_PRIMITIVES.has(kind)) return _isPrimitive(kind, value);
  const own = context.spaces.get(type) ?? space;
  switch (kind) {
    case "record":
    case "error":
      return _isRecord(type, value, own, context);
    case "enum":
      return _isSymbol(type, value);
    case "fixed":
      return typeof value === "string" && BYTE_STRING.test(value) && value.length === type.size;
    case "array":
      return Array.isArray(value) &&
        value.every((item) => _isValid(type.items, item, space, context));
    case "map":
      return _isNode(value) &&
        Object.values(value).every((item) => _isValid(type.values, item, space, context));
    default: {
      // `{"type": "some.Name"}` refers to a named type.
      const named = _lookup(kind, space, context);
      return named === undefined ? true : _isValid(named, value, space, context);
    }
  }
}

function _isRecord(type: _Node, value: unknown, space: string, context: _Context): boolean {
  if (!_isNode(value)) return false;
  for (const field of _fields(type)) {
    const name = field.name;
    if (typeof name !== "string") return false;
    if (value[name] !== undefined) {
      if (!_isValid(field.type, value[name], space, context)) return false;
      continue;
    }
    // A missing field takes its own default, which must itself be valid: avsc fills it in.
    if (!("default" in field) || context.busy.has(field)) return false;
    context.busy.add(field);
    try {
      if (!_isValid(field.type, field.default, space, context)) return false;
    } finally {
      context.busy.delete(field);
    }
  }
  return true;
}

function _isPrimitive(type: string, value: unknown): boolean {
  switch (type) {
    case "null":
      return value === null;
    case "boolean":
      return typeof value === "boolean";
    case "int":
      return Number.isInteger(value) && (value as number) >= INT_MIN &&
        (value as number) <= INT_MAX;
    case "long":
      if (typeof value === "bigint") return value >= LONG_MIN && value <= LONG_MAX;
      return Number.isInteger(value) && BigInt(value as number) >= LONG_MIN &&
        BigInt(value as number) <= LONG_MAX;
    case "float":
    case "double":
      // JSON has no NaN or infinities; avsc refuses the "NaN" strings some writers use.
      return typeof value === "number" && Number.isFinite(value);
    case "string":
      return typeof value === "string";
    default: // bytes
      return typeof value === "string" && BYTE_STRING.test(value);
  }
}

function _isSymbol(type: _Node, value: unknown): boolean {
  return typeof value === "string" && Array.isArray(type.symbols) && type.symbols.includes(value);
}

function _lookup(name: string, space: string, context: _Context): _Node | undefined {
  if (name.includes(".")) return context.names.get(name);
  return (space === "" ? undefined : context.names.get(`${space}.${name}`)) ??
    context.names.get(name);
}

function _fullName(node: _Node, space: string): string | null {
  const name = node.name;
  if (typeof name !== "string" || name === "") return null;
  if (name.includes(".")) return name;
  const own = typeof node.namespace === "string" ? node.namespace : space;
  return own === "" ? name : `${own}.${name}`;
}

function _namespaceOf(fullName: string): string {
  const dot = fullName.lastIndexOf(".");
  return dot < 0 ? "" : fullName.slice(0, dot);
}

function _fields(node: _Node): _Node[] {
  return Array.isArray(node.fields) ? node.fields.filter(_isNode) : [];
}

function _isNode(value: unknown): value is _Node {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
