/**
 * Avro schemas of alert packets: parsing them with 64-bit longs as `bigint`, telling which
 * survey and version a schema is, and assembling Rubin's one-file-per-record schema folders.
 *
 * @module
 */

import avro from "npm:avsc@5.7.9";
import { Buffer } from "node:buffer";
import { join } from "node:path";

// avsc decodes a long into 8 little-endian bytes and lets a custom type turn those into a value:
// bigint keeps ids above 2^53 exact.
const BigIntLong: avro.types.LongType = avro.types.LongType.__with({
  fromBuffer: (buffer: Buffer) => buffer.readBigInt64LE(),
  toBuffer: (value: bigint | number) => {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64LE(BigInt(value));
    return buffer;
  },
  fromJSON: (value: unknown) => BigInt(value as string),
  toJSON: (value: bigint) => Number(value),
  isValid: (value: unknown) => typeof value === "bigint",
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/**
 * Parse a schema into an avsc type whose `long` values are `bigint`.
 *
 * @param schema The schema (parsed JSON).
 * @returns The type.
 * @throws {Error} When the schema is invalid.
 * @example
 * ```ts
 * import { createAvroType } from "./avro_schema.ts";
 * const type = createAvroType({ type: "record", name: "r", fields: [{ name: "id", type: "long" }] });
 * type.isValid({ id: 170587117485817955n }); // true
 * ```
 */
export function createAvroType(schema: unknown): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, {
    registry: { long: BigIntLong },
    // The registry only catches the bare name "long": a long written as an object (Rubin's
    // `{"type": "long", "logicalType": "timestamp-micros"}`) would decode as a lossy number.
    typeHook: (node) =>
      typeof node === "object" && node !== null && !Array.isArray(node) &&
        (node as { type?: unknown }).type === "long"
        ? BigIntLong
        : undefined,
  });
}

/** Which survey and schema version a writer schema belongs to. */
export interface SchemaIdentity {
  /** `lsst` (`lsst.vM_m.alert`), `ztf` (`ztf.alert`), or `null` when neither. */
  survey: "lsst" | "ztf" | null;
  /**
   * `"M.m"` for LSST; for ZTF the schema's own `version` attribute (or a version its `doc`
   * names), which packets without a `schemavsn` field (ZTF 1.x) depend on; `null` when unknown.
   */
  version: string | null;
}

/**
 * Tell a schema's survey and version from its record name.
 *
 * @param schema The schema (parsed JSON).
 * @returns Survey and version.
 * @example
 * ```ts
 * import { schemaIdentity } from "./avro_schema.ts";
 * schemaIdentity({ type: "record", namespace: "lsst.v11_0", name: "alert", fields: [] });
 * // { survey: "lsst", version: "11.0" }
 * ```
 */
export function schemaIdentity(schema: unknown): SchemaIdentity {
  if (typeof schema !== "object" || schema === null) return { survey: null, version: null };
  const { name, namespace } = schema as { name?: unknown; namespace?: unknown };
  if (typeof name !== "string") return { survey: null, version: null };
  const full = name.includes(".") || typeof namespace !== "string" ? name : `${namespace}.${name}`;
  const lsst = /^lsst\.v(\d+)_(\d+)\.alert$/.exec(full);
  if (lsst) return { survey: "lsst", version: `${lsst[1]}.${lsst[2]}` };
  if (full === "ztf.alert") return { survey: "ztf", version: _ztfVersion(schema) };
  return { survey: null, version: null };
}

// ZTF's alert schemas say their version in a top-level `version` attribute (3.3: "3.3").
function _ztfVersion(schema: object): string | null {
  const { version, doc } = schema as { version?: unknown; doc?: unknown };
  if (typeof version === "string" && /^\d+(\.\d+)*$/.test(version)) return version;
  if (typeof version === "number" && Number.isFinite(version)) return String(version);
  const named = typeof doc === "string" ? /\bv(?:ersion)?\s*(\d+\.\d+)\b/i.exec(doc) : null;
  return named?.[1] ?? null;
}

/**
 * Rubin's schema id for a version: MAJOR×100 + MINOR.
 *
 * @param id Registry id, such as 1101.
 * @returns The version, such as `"11.1"`.
 * @example
 * ```ts
 * import { versionOfSchemaId } from "./avro_schema.ts";
 * versionOfSchemaId(1101); // "11.1"
 * ```
 */
export function versionOfSchemaId(id: number): string {
  return `${Math.floor(id / 100)}.${id % 100}`;
}

/**
 * Assemble one version from a schema folder into a single self-contained schema: each named
 * record is written out in full where it is first used. Three layouts are read, tried in this
 * order: `<dir>/<M.m>/*.avsc` (one folder per version, as in the fixtures), `<dir>/<M>/<m>/*.avsc`
 * (Rubin's `alert_packet` tree, `python/lsst/alert/packet/schema/`), and `<dir>` holding the
 * version's records itself (`lsst.v<M>_<m>.*.avsc`, such as a copy of `schema/11/0/`).
 *
 * @param dir The schema folder.
 * @param version Such as `"11.0"`.
 * @returns The schema as parsed JSON.
 * @throws {Deno.errors.NotFound} When no layout holds the version.
 * @throws {TypeError} When its folder holds no `alert` record.
 * @example
 * ```ts ignore
 * import { loadSchemaVersion } from "./avro_schema.ts";
 * const schema = await loadSchemaVersion("../shared/fixtures/lsst/schema", "11.0");
 * ```
 */
export async function loadSchemaVersion(dir: string, version: string): Promise<unknown> {
  const [major = version, minor = ""] = version.split(".");
  for (const folder of [join(dir, version), join(dir, major, minor)]) {
    const named = await _readNamed(folder, null);
    if (named !== null) return _assemble(folder, named);
  }
  // Only this version's records: a flat folder may hold several versions side by side.
  const named = await _readNamed(dir, `lsst.v${major}_${minor}.`);
  if (named !== null && named.size > 0) return _assemble(dir, named);
  throw new Deno.errors.NotFound(
    `No schema ${version} in "${dir}": looked for ${version}/*.avsc, ${major}/${minor}/*.avsc and lsst.v${major}_${minor}.*.avsc`,
  );
}

// The named records of a folder's .avsc files (those whose full name starts with `prefix`, when
// given); `null` when the folder does not exist.
async function _readNamed(
  folder: string,
  prefix: string | null,
): Promise<Map<string, Record<string, unknown>> | null> {
  const named = new Map<string, Record<string, unknown>>();
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (!entry.isFile || !entry.name.endsWith(".avsc")) continue;
      const schema = JSON.parse(await Deno.readTextFile(join(folder, entry.name))) as Record<
        string,
        unknown
      >;
      const full = _fullName(schema, null);
      if (full === null || (prefix !== null && !full.startsWith(prefix))) continue;
      named.set(full, schema);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw error;
  }
  return named;
}

function _assemble(folder: string, named: Map<string, Record<string, unknown>>): unknown {
  const alert = [...named].find(([full]) => full.endsWith(".alert"))?.[1];
  if (alert === undefined) {
    throw new TypeError(`Schema folder "${folder}" holds no alert record (*.alert.avsc)`);
  }
  return _inline(alert, null, named, new Set());
}

/**
 * SHA-256 of a schema's JSON text, hex: its identity in the `schemas` table.
 *
 * @param json The JSON text.
 * @returns 64 hex characters.
 * @example
 * ```ts
 * import { schemaFingerprint } from "./avro_schema.ts";
 * (await schemaFingerprint("{}")).length; // 64
 * ```
 */
export async function schemaFingerprint(json: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(json));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function _fullName(schema: Record<string, unknown>, namespace: string | null): string | null {
  const name = schema.name;
  if (typeof name !== "string") return null;
  if (name.includes(".")) return name;
  const ns = typeof schema.namespace === "string" ? schema.namespace : namespace;
  return ns === null ? name : `${ns}.${name}`;
}

// Replace references to named records by their definitions the first time each is used, so
// the result parses on its own (Avro allows later uses by name).
function _inline(
  node: unknown,
  namespace: string | null,
  named: Map<string, Record<string, unknown>>,
  defined: Set<string>,
): unknown {
  if (typeof node === "string") {
    const full = node.includes(".") || namespace === null ? node : `${namespace}.${node}`;
    const definition = named.get(full) ?? named.get(node);
    if (definition === undefined) return node;
    const key = _fullName(definition, null) ?? full;
    if (defined.has(key)) return key;
    return _inline(definition, namespace, named, defined);
  }
  if (Array.isArray(node)) return node.map((item) => _inline(item, namespace, named, defined));
  if (typeof node !== "object" || node === null) return node;
  const record = node as Record<string, unknown>;
  const full = record.type === "record" || record.type === "enum" || record.type === "fixed"
    ? _fullName(record, namespace)
    : null;
  if (full !== null) defined.add(full);
  const inner = full === null ? namespace : full.slice(0, full.lastIndexOf(".")) || null;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    out[key] = key === "type" || key === "items" || key === "values" || key === "fields"
      ? _inline(value, inner, named, defined)
      : value;
  }
  return out;
}
