/**
 * Alerts from Kafka: the Rubin alert stream (Confluent wire format, snappy batches, SASL
 * SCRAM-SHA-512) or any topic of LSST or ZTF alerts. Offsets are committed only after the
 * pipeline has stored the alerts, and the database's cursors win over Kafka's commits, so a lost
 * commit duplicates nothing.
 *
 * @module
 */

import { AlertParseError, SourceError, UsageError } from "../pipeline/errors.ts";
import type { SchemaStore } from "../storage/storage.ts";
import type { AlertsOptions, AlertSource, SourceCursor, SourcedAlert } from "./alert_source.ts";
import {
  KafkaClient,
  type KafkaRecord,
  type KafkaSasl,
  type KafkaStream,
  type KafkaTls,
  type PartitionLag,
  type StartAt,
} from "./_kafka_client.ts";
import {
  decodeContainer,
  type DecodedPacket,
  decodeFramed,
  type MessageFormat,
  messageFormat,
} from "./_message_decoder.ts";
import { SchemaResolver } from "./schema_resolver.ts";

export type { KafkaSasl, KafkaTls, MessageFormat, PartitionLag, StartAt };

/** Options of {@linkcode KafkaSource}. */
export interface KafkaSourceOptions {
  /** Brokers, `host:port`, as a list or comma-separated. */
  bootstrapServers: string | string[];
  /** Topics to consume. */
  topics: string[];
  /** Consumer group; Rubin requires it to start with the user name. */
  groupId: string;
  /** SASL credentials. Default: none. */
  sasl?: KafkaSasl;
  /** TLS (certificates verified by default). Default: plaintext. */
  tls?: KafkaTls;
  /** Where to start: committed offsets (earliest for a new group), or earliest/latest. Default `committed`. */
  startAt?: StartAt;
  /** Confluent Schema Registry URL. Default: none. */
  schemaRegistry?: string;
  /** Folder laid out as `<M.m>/*.avsc`. Default: none. */
  schemaDir?: string;
  /** Where schemas are kept between runs; pass the storage. Default: memory only. */
  schemaStore?: SchemaStore;
  /** Message encoding. Default `auto` (framed when the first byte is 0, container when `Obj\x01`). */
  format?: MessageFormat;
  /** Largest message expected, in bytes. Default 16 MiB. */
  maxMessageBytes?: number;
  /**
   * Group session timeout in ms: how long a crashed member keeps its partitions before the
   * group reassigns them. Default 10,000.
   */
  sessionTimeoutMs?: number;
  /** Connection timeout in ms. Default 5,000. */
  connectionTimeoutMs?: number;
  /** Client id shown in broker logs. Default `lsst-extendedness`. */
  clientId?: string;
  /** Source name stored with alerts and runs. Default `kafka`. */
  name?: string;
}

/**
 * Consumes alert topics as a consumer group member.
 *
 * Cursor streams are `topic/partition`, positions are offsets. After each stored batch the
 * pipeline calls {@linkcode KafkaSource.acknowledge}, which commits the next offsets.
 *
 * @example
 * ```ts ignore
 * import { KafkaSource } from "./kafka_source.ts";
 * await using source = new KafkaSource({
 *   bootstrapServers: "rubin-alert-stream-bootstrap.slac.stanford.edu:9094",
 *   topics: ["lsst-alerts-v11"],
 *   groupId: "myuser-extendedness",
 *   sasl: { mechanism: "scram-sha-512", username: "myuser", password: Deno.env.get("LSST_KAFKA_PASSWORD")! },
 *   schemaRegistry: "https://rubin-alert-schemas.slac.stanford.edu/schema-registry",
 * });
 * ```
 */
export class KafkaSource implements AlertSource {
  /** Source name (`kafka` unless set). */
  readonly name: string;
  /** What it consumes; never the password. */
  readonly params: Readonly<Record<string, unknown>>;
  #options: KafkaSourceOptions;
  #client: KafkaClient;
  #resolver: SchemaResolver;
  #stream: KafkaStream | null = null;

  /**
   * Describe what to consume; nothing connects until the alerts are read.
   *
   * @param options Brokers, topics, group, credentials and schema sources.
   * @throws {UsageError} When required options are missing.
   */
  constructor(options: KafkaSourceOptions) {
    const brokers =
      (Array.isArray(options.bootstrapServers)
        ? options.bootstrapServers
        : options.bootstrapServers.split(","))
        .map((b) => b.trim())
        .filter((b) => b !== "");
    if (brokers.length === 0) throw new UsageError("The Kafka source needs bootstrap servers");
    if (options.topics.length === 0) {
      throw new UsageError("The Kafka source needs at least one topic");
    }
    if (options.groupId === "") throw new UsageError("The Kafka source needs a consumer group id");
    this.#options = options;
    this.name = options.name ?? "kafka";
    this.#client = new KafkaClient({
      brokers,
      clientId: options.clientId ?? "lsst-extendedness",
      ...(options.sasl === undefined ? {} : { sasl: options.sasl }),
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...(options.connectionTimeoutMs === undefined
        ? {}
        : { connectionTimeoutMs: options.connectionTimeoutMs }),
    });
    this.#resolver = new SchemaResolver({
      ...(options.schemaRegistry === undefined ? {} : { registryUrl: options.schemaRegistry }),
      ...(options.schemaDir === undefined ? {} : { schemaDir: options.schemaDir }),
      ...(options.schemaStore === undefined ? {} : { store: options.schemaStore }),
    });
    this.params = {
      bootstrapServers: brokers,
      topics: options.topics,
      groupId: options.groupId,
      startAt: options.startAt ?? "committed",
      format: options.format ?? "auto",
      saslMechanism: options.sasl?.mechanism ?? null,
      tls: options.tls === undefined ? null : { ...options.tls },
      schemaRegistry: this.#resolver.sources.registryUrl,
      schemaDir: options.schemaDir ?? null,
    };
  }

  /**
   * Yield alerts as they arrive, until the signal aborts or the limit is reached.
   *
   * @param options Signal, limit, and the database's cursors (`topic/partition` → offset).
   * @returns Alerts and rejected messages with their cursors.
   * @throws {SourceError} When Kafka cannot be reached, authentication fails, a topic does not
   * exist, or the consumer fails.
   */
  async *alerts(options: AlertsOptions = {}): AsyncGenerator<SourcedAlert, void, undefined> {
    const { signal, limit = Infinity, resumeFrom } = options;
    const topics = this.#options.topics;
    await this.#client.check(topics);
    const stream = await this.#client.consume({
      groupId: this.#options.groupId,
      topics,
      startAt: this.#options.startAt ?? "committed",
      stored: resumeFrom ?? new Map(),
      maxMessageBytes: this.#options.maxMessageBytes ?? 16 << 20,
      sessionTimeoutMs: this.#options.sessionTimeoutMs ?? 10_000,
    });
    this.#stream = stream;
    let yielded = 0;
    try {
      while (yielded < limit) {
        const record = await stream.next(signal);
        if (record === null) return;
        for (const item of await this.#decode(record)) {
          yield item;
          yielded++;
        }
      }
    } finally {
      this.#stream = null;
      await stream.close();
    }
  }

  /**
   * Commit, after the pipeline stored a batch, the offsets that follow its cursors.
   *
   * @param cursors The newest stored cursor of each partition.
   */
  async acknowledge(cursors: readonly SourceCursor[]): Promise<void> {
    const positions = cursors.flatMap((c) => {
      const slash = c.stream.lastIndexOf("/");
      const partition = Number(c.stream.slice(slash + 1));
      return /^\d+$/.test(c.position) && Number.isInteger(partition)
        ? [{ topic: c.stream.slice(0, slash), partition, offset: c.position }]
        : [];
    });
    await this.#stream?.commit(positions);
  }

  /**
   * The group's committed offset and lag on each partition of its topics.
   *
   * @returns One entry per partition.
   */
  lag(): Promise<PartitionLag[]> {
    return this.#client.lag(this.#options.groupId, this.#options.topics);
  }

  /** Leave the group. Safe to call twice. */
  async [Symbol.asyncDispose](): Promise<void> {
    const stream = this.#stream;
    this.#stream = null;
    await stream?.close();
  }

  async #decode(record: KafkaRecord): Promise<SourcedAlert[]> {
    const stream = `${record.topic}/${record.partition}`;
    const cursor = { stream, position: record.offset };
    const where =
      `partition ${record.partition} of topic "${record.topic}" at offset ${record.offset}`;
    const bytes = record.value;
    try {
      if (bytes === null || bytes.length === 0) throw new RangeError("The message has no value");
      let alerts: DecodedPacket[];
      if (messageFormat(bytes, this.#options.format ?? "auto") === "confluent") {
        alerts = [await decodeFramed(bytes, this.#resolver, this.name)];
      } else {
        alerts = await decodeContainer(bytes, this.#resolver, this.name);
      }
      // Several alerts in one message share its offset: only the last one marks it done.
      return alerts.map(({ alert, raw }, i) => ({
        kind: "alert",
        alert,
        raw,
        cursor: i < alerts.length - 1 ? { ...cursor, more: true } : cursor,
      }));
    } catch (error) {
      if (error instanceof SourceError) throw error;
      return [{
        kind: "rejected",
        error: new AlertParseError(
          `Cannot decode the message in ${where}: ${(error as Error).message}`,
          { stream, position: record.offset, cause: error },
        ),
        raw: bytes,
        cursor,
      }];
    }
  }
}

/** Options of {@linkcode kafkaLag}. */
export interface KafkaLagOptions {
  /** Brokers. */
  bootstrapServers: string | string[];
  /** The group. */
  groupId: string;
  /** Topics; default: those the group committed to. */
  topics?: string[];
  /** SASL credentials. */
  sasl?: KafkaSasl;
  /** TLS. */
  tls?: KafkaTls;
}

/**
 * A consumer group's committed offset and lag per partition, without consuming.
 *
 * @param options Brokers, group and credentials.
 * @returns One entry per partition.
 * @example
 * ```ts ignore
 * import { kafkaLag } from "./kafka_source.ts";
 * const lag = await kafkaLag({ bootstrapServers: "127.0.0.1:9092", groupId: "g" });
 * ```
 */
export function kafkaLag(options: KafkaLagOptions): Promise<PartitionLag[]> {
  const brokers = Array.isArray(options.bootstrapServers)
    ? options.bootstrapServers
    : options.bootstrapServers.split(",").map((b) => b.trim());
  const client = new KafkaClient({
    brokers,
    clientId: "lsst-extendedness",
    ...(options.sasl === undefined ? {} : { sasl: options.sasl }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  return client.lag(options.groupId, options.topics);
}
