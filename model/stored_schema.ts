/**
 * Writer schemas as the database keeps them, and the store that keeps them.
 *
 * @module
 */

/** A writer schema as kept in the `schemas` table. */
export interface StoredSchema {
  /** SHA-256 (hex) of `json`. */
  fingerprint: string;
  /** Schema registry id (Rubin: MAJOR×100+MINOR), `null` for schemas embedded in files. */
  id: number | null;
  /** Schema version, such as `"11.0"` (LSST) or `"3.3"` (ZTF), when known. */
  version: string | null;
  /** Survey, `lsst` or `ztf`, when known. */
  survey: string | null;
  /** The schema as JSON text, every named type inlined. */
  json: string;
}

/** Where decoders keep the writer schemas they used, so later runs work offline. */
export interface SchemaStore {
  /**
   * A stored schema by registry id.
   *
   * @param id Registry id.
   * @returns The schema, or `null` when none is stored under that id.
   */
  schemaById(id: number): Promise<StoredSchema | null>;
  /**
   * Keep a schema (idempotent: stored schemas are immutable).
   *
   * @param schema The schema.
   */
  saveSchema(schema: StoredSchema): Promise<void>;
}
