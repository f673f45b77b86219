/**
 * Finds the writer schema of each message: by registry id (Confluent wire format) or from the
 * schema a file embeds (Avro Object Container Files, ZTF messages). Every schema used is kept in
 * the database so later runs and replays work offline.
 *
 * @module
 */

import type avro from "npm:avsc@5.7.9";
import { SourceError } from "../model/errors.ts";
import type { SchemaStore } from "../model/stored_schema.ts";
import {
  createAvroType,
  loadSchemaVersion,
  schemaFingerprint,
  schemaIdentity,
  versionOfSchemaId,
} from "../avro/avro_schema.ts";
import { relaxZtfSchema } from "./ztf_schema.ts";
import { compileProjection, type Projection } from "../avro/avro_projection.ts";
import { LSST_ALERT_SELECTION } from "./lsst_packet.ts";
import { ZTF_ALERT_SELECTION } from "./ztf_packet.ts";

/** Options of {@linkcode SchemaResolver}. */
export interface SchemaResolverOptions {
  /** Confluent Schema Registry base URL (`GET {url}/schemas/ids/{id}`). Default: none. */
  registryUrl?: string;
  /**
   * Schema folder: `<M.m>/*.avsc`, Rubin's `<M>/<m>/lsst.v<M>_<m>.*.avsc` tree, or one version's
   * `.avsc` files. Default: none.
   */
  schemaDir?: string;
  /** Where schemas are kept between runs (the database). Default: memory only. */
  store?: SchemaStore;
  /** Registry request timeout in ms. Default 10,000. */
  timeoutMs?: number;
}

/** A writer schema ready to decode with. */
export interface ResolvedSchema {
  /** Registry id, `null` for an embedded schema. */
  id: number | null;
  /** `lsst`, `ztf` or `null` when unknown. */
  survey: "lsst" | "ztf" | null;
  /** `"M.m"` for LSST; for ZTF the version its schema declares; `null` when unknown. */
  version: string | null;
  /** The schema as JSON text. */
  json: string;
  /** SHA-256 of `json`. */
  fingerprint: string;
  /**
   * The fast decoder: keeps only the fields the survey's mapper reads (everything for an
   * unknown survey), checking the structure of the rest as it skips it.
   */
  project: Projection;
  /** The full decoder, `long` as `bigint`: for users who want the whole packet. */
  type: avro.Type;
}

/**
 * The fast decoder of a writer schema and the survey it belongs to, without the full decoder:
 * what a decode worker needs of a schema its caller has already resolved and checked.
 *
 * @param schema The writer schema (parsed JSON).
 * @param relaxed The same with ZTF's invalid defaults dropped, when the caller has it.
 * @returns Its projection (the survey's selection; everything for an unknown survey), survey
 * and version.
 * @throws {TypeError} When the schema has a type the projection cannot read.
 */
export function projectionOf(
  schema: unknown,
  relaxed: unknown = relaxZtfSchema(schema),
): Pick<ResolvedSchema, "project" | "survey" | "version"> {
  const { survey, version } = schemaIdentity(schema);
  const selection = survey === "lsst"
    ? LSST_ALERT_SELECTION
    : survey === "ztf"
    ? ZTF_ALERT_SELECTION
    : true;
  return { project: compileProjection(relaxed, selection), survey, version };
}

/** The schema id is not known anywhere the resolver may look. */
export class UnknownSchemaError extends RangeError {
  /** The id. */
  readonly schemaId: number;

  /**
   * Create the error.
   *
   * @param schemaId The id.
   * @param message Where it was looked for.
   */
  constructor(schemaId: number, message: string) {
    super(message);
    this.name = "UnknownSchemaError";
    this.schemaId = schemaId;
  }
}

/**
 * Resolves writer schemas by id or embedded JSON, caching them in memory (ids are immutable)
 * and in the store.
 *
 * Lookup order for an id: memory, the store, the schema folder, the registry.
 *
 * @example
 * ```ts
 * import { SchemaResolver } from "./schema_resolver.ts";
 * const resolver = new SchemaResolver({ schemaDir: "../shared/fixtures/lsst/schema" });
 * const schema = await resolver.byId(1101);
 * schema.version; // "11.1"
 * ```
 */
export class SchemaResolver {
  #options: SchemaResolverOptions;
  #byId = new Map<number, Promise<ResolvedSchema>>();
  #byJson = new Map<string, Promise<ResolvedSchema>>();

  /**
   * Describe where schemas may come from.
   *
   * @param options Registry, folder and store.
   */
  constructor(options: SchemaResolverOptions = {}) {
    this.#options = options;
  }

  /** Where this resolver looks, for messages and run parameters (no credentials). */
  get sources(): { registryUrl: string | null; schemaDir: string | null } {
    return {
      registryUrl: this.#options.registryUrl === undefined
        ? null
        : _withoutCredentials(this.#options.registryUrl),
      schemaDir: this.#options.schemaDir ?? null,
    };
  }

  /**
   * The writer schema registered under an id.
   *
   * @param id Registry id.
   * @returns The schema.
   * @throws {UnknownSchemaError} When no source knows the id.
   * @throws {SourceError} When the registry cannot be reached (retriable).
   */
  byId(id: number): Promise<ResolvedSchema> {
    let pending = this.#byId.get(id);
    if (pending === undefined) {
      pending = this.#resolveId(id);
      // A failure is not cached: the registry may be back, the folder may be fixed.
      pending.catch(() => this.#byId.delete(id));
      this.#byId.set(id, pending);
    }
    return pending;
  }

  /**
   * The schema a file or message embeds.
   *
   * @param json Its JSON text, as embedded.
   * @returns The schema.
   * @throws {SyntaxError} When it is not JSON.
   * @throws {Error} When it is not a valid Avro schema even after relaxing ZTF's defaults.
   */
  fromJson(json: string): Promise<ResolvedSchema> {
    let pending = this.#byJson.get(json);
    if (pending === undefined) {
      pending = this.#resolve(null, JSON.parse(json), json);
      pending.catch(() => this.#byJson.delete(json));
      this.#byJson.set(json, pending);
    }
    return pending;
  }

  async #resolveId(id: number): Promise<ResolvedSchema> {
    if (!Number.isInteger(id)) throw new UnknownSchemaError(id, `Invalid schema id "${id}"`);
    const stored = await this.#options.store?.schemaById(id);
    if (stored) return await this.#resolve(id, JSON.parse(stored.json), stored.json, false);

    const tried: string[] = ["not stored in the database"];
    const dir = this.#options.schemaDir;
    const version = versionOfSchemaId(id);
    if (dir !== undefined) {
      try {
        const schema = await loadSchemaVersion(dir, version);
        return await this.#resolve(id, schema, JSON.stringify(schema));
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        const [major, minor] = version.split(".");
        tried.push(
          `not in --schema-dir "${dir}" (no folder ${version} or ${major}/${minor}, no lsst.v${major}_${minor}.*.avsc)`,
        );
      }
    } else {
      tried.push("no --schema-dir given");
    }
    const registry = this.#options.registryUrl;
    if (registry !== undefined) {
      const json = await this.#fetch(registry, id);
      if (json !== null) return await this.#resolve(id, JSON.parse(json), json);
      tried.push(`not in the schema registry "${_withoutCredentials(registry)}"`);
    } else {
      tried.push("no --schema-registry given");
    }
    throw new UnknownSchemaError(id, `Unknown schema id ${id}: ${tried.join(", ")}`);
  }

  async #resolve(
    id: number | null,
    schema: unknown,
    json: string,
    save = true,
  ): Promise<ResolvedSchema> {
    let type: avro.Type;
    let projection: ReturnType<typeof projectionOf>;
    try {
      // Only invalid defaults are removed: decoding bytes written with the schema is unchanged.
      const relaxed = relaxZtfSchema(schema);
      type = createAvroType(relaxed);
      projection = projectionOf(schema, relaxed);
    } catch (error) {
      // avsc reports most bad schemas with a plain Error, but some (a field without a type)
      // with a TypeError of its own making: one documented error for all of them.
      throw new Error(`Invalid Avro schema: ${_message(error)}`, { cause: error });
    }
    const resolved: ResolvedSchema = {
      id,
      survey: projection.survey,
      version: projection.version,
      json,
      fingerprint: await schemaFingerprint(json),
      project: projection.project,
      type,
    };
    if (save && this.#options.store) {
      await this.#options.store.saveSchema({
        fingerprint: resolved.fingerprint,
        id,
        version: resolved.version,
        survey: resolved.survey,
        json,
      });
    }
    return resolved;
  }

  async #fetch(registry: string, id: number): Promise<string | null> {
    const url = `${registry.replace(/\/+$/, "")}/schemas/ids/${id}`;
    const shown = _withoutCredentials(url);
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { accept: "application/vnd.schemaregistry.v1+json, application/json" },
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      throw new SourceError(`Cannot reach the schema registry at "${shown}": ${_message(error)}`, {
        retriable: true,
        cause: error,
      });
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new SourceError(
        `Schema registry "${shown}" answered ${response.status} ${response.statusText}`,
        { retriable: response.status >= 500 },
      );
    }
    const body = await response.json() as { schema?: unknown; schemaType?: unknown };
    if (typeof body.schema !== "string") {
      throw new SourceError(`Schema registry "${shown}" answered without a "schema" string`);
    }
    if (body.schemaType !== undefined && body.schemaType !== "AVRO") {
      throw new SourceError(`Schema ${id} from "${shown}" is ${body.schemaType}, not AVRO`);
    }
    return body.schema;
  }
}

function _withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.toString().replace(/\/$/, url.endsWith("/") ? "/" : "");
  } catch {
    return url;
  }
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
