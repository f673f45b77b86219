/**
 * The project's named errors. Everything else uses built-ins (`TypeError`, `RangeError`).
 *
 * @module
 */

/** Options of {@linkcode AlertParseError}. */
export interface AlertParseErrorOptions extends ErrorOptions {
  /** Where the record came from: a file path, or `topic/partition`. */
  stream: string;
  /** Where in the stream: record index, byte offset or Kafka offset. */
  position: string;
}

/**
 * One record could not be decoded or mapped. The record is quarantined and the run goes on.
 *
 * @example
 * ```ts
 * import { AlertParseError } from "./errors.ts";
 * throw new AlertParseError("Cannot decode Avro record: unknown schema id 1203", {
 *   stream: "night.avro",
 *   position: "12",
 * });
 * ```
 */
export class AlertParseError extends Error {
  /** Where the record came from. */
  readonly stream: string;
  /** Where in the stream. */
  readonly position: string;

  /**
   * Create the error.
   *
   * @param message What was wrong.
   * @param options Where it was, and the cause.
   */
  constructor(message: string, options: AlertParseErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AlertParseError";
    this.stream = options.stream;
    this.position = options.position;
  }
}

/** Options of {@linkcode SourceError}. */
export interface SourceErrorOptions extends ErrorOptions {
  /** Whether trying again later may succeed (a broker restart) or not (bad credentials). Default `false`. */
  retriable?: boolean;
}

/**
 * A source as a whole failed (unreachable broker, unreadable directory). The run stops.
 *
 * @example
 * ```ts
 * import { SourceError } from "./errors.ts";
 * throw new SourceError('Cannot reach Kafka at "127.0.0.1:9092"', { retriable: true });
 * ```
 */
export class SourceError extends Error {
  /** Whether trying again later may succeed. */
  readonly retriable: boolean;

  /**
   * Create the error.
   *
   * @param message What failed.
   * @param options Whether it is retriable, and the cause.
   */
  constructor(message: string, options: SourceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SourceError";
    this.retriable = options.retriable ?? false;
  }
}

/**
 * The database failed or is unusable (busy, corrupt, wrong schema). The run stops.
 *
 * @example
 * ```ts
 * import { StorageError } from "./errors.ts";
 * throw new StorageError('Database "data/alerts.db" is busy');
 * ```
 */
export class StorageError extends Error {
  /**
   * Create the error.
   *
   * @param message What failed.
   * @param options The cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StorageError";
  }
}

/**
 * The caller asked for something invalid (unknown flag, missing option). The CLI exits with 2.
 *
 * @example
 * ```ts
 * import { UsageError } from "./errors.ts";
 * throw new UsageError('Unknown source "ftp": expected mock, file, kafka or antares');
 * ```
 */
export class UsageError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode = 2;

  /**
   * Create the error.
   *
   * @param message What was wrong and what is accepted.
   * @param options The cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}
