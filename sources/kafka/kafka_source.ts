/**
 * Alerts from Kafka: the Rubin alert stream (Confluent wire format, snappy batches, SASL
 * SCRAM-SHA-512) or any topic of LSST or ZTF alerts. Offsets are committed only after the
 * pipeline has stored the alerts, and the database's cursors win over Kafka's commits, so a lost
 * commit duplicates nothing. Cursors carry the cluster's and the topic's ids: offsets of another
 * cluster, or of a topic created again, stop the run instead of skipping its messages.
 *
 * @module
 */

import { AlertParseError, SourceError, UsageError } from "../../model/errors.ts";
import type { SchemaStore } from "../../model/stored_schema.ts";
import type { AlertsOptions, AlertSource, SourcedAlert } from "../alert_source.ts";
import type { SourceCursor } from "../../model/source_cursor.ts";
import {
  type ClusterIdentity,
  type ConsumeOptions,
  KafkaClient,
  type KafkaConnection,
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
  storedSchema,
} from "../../formats/_message_decoder.ts";
import { SchemaResolver } from "../../formats/schema_resolver.ts";
import { MessageReader } from "./_message_reader.ts";

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
  /**
   * Schema folder for framed messages: `<M.m>/*.avsc`, Rubin's `<M>/<m>/lsst.v<M>_<m>.*.avsc`
   * tree, or one version's `.avsc` files. Default: none.
   */
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
  /**
   * Consume and decode in a Deno worker, on another core, while the calling thread stores
   * earlier alerts; `false` does everything on the calling thread. Container (ZTF) messages
   * and messages of schema ids that cannot be resolved are decoded on the calling thread
   * either way. Default: `true` when the machine has more than one core.
   */
  decodeWorker?: boolean;
}

// How far the worker decodes ahead of what the pipeline has taken: two batches of light alerts,
// or a batch of heavy ones (~70 of ~270 KB) and more, so the next batch is decoded while one is
// stored. Further ahead only keeps more alerts alive on both threads: their garbage collections
// cost more than the overlap gains (32 MiB of light alerts spent 0.3 s more per 20,000 in them).
const AHEAD = { messages: 1_000, bytes: 32 << 20 };
// Chunks the pipeline can start storing from while the rest of a fetch is decoded.
const CHUNK_MESSAGES = 500;
const CHUNK_BYTES = 4 << 20;
// Fetches in the worker. Kafkajs hands nothing over until a whole fetch is decoded, so a
// smaller fetch brings the first alerts sooner; a larger one pays fewer round trips to a
// distant broker (one fetch in flight per broker). 1 MiB a partition (Kafka's default) also
// gives each fetch a stretch of every partition to interleave (see _fetch_interleave.ts).
const WORKER_FETCH_BYTES = 8 << 20;
const WORKER_PARTITION_BYTES = 1 << 20;

// What prepare() starts ahead of alerts().
interface _Prepared {
  reader: Promise<MessageReader | null>;
  cluster: Promise<ClusterIdentity>;
}

/**
 * Consumes alert topics as a consumer group member.
 *
 * Cursor streams are `topic/partition`, positions are offsets, identities
 * `cluster=<cluster id> topic=<topic id>`. After each stored batch the pipeline calls
 * {@linkcode KafkaSource.acknowledge}, which commits the next offsets.
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
  #connection: KafkaConnection;
  #client: KafkaClient;
  #resolver: SchemaResolver;
  #stream: KafkaStream | null = null;
  #reader: MessageReader | null = null;
  #prepared: _Prepared | null = null;
  /** `SourceCursor.identity` of each topic, for the cursors of its messages. */
  #identities = new Map<string, string>();

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
    this.#connection = {
      brokers,
      clientId: options.clientId ?? "lsst-extendedness",
      ...(options.sasl === undefined ? {} : { sasl: { ...options.sasl } }),
      ...(options.tls === undefined ? {} : { tls: { ...options.tls } }),
      ...(options.connectionTimeoutMs === undefined
        ? {}
        : { connectionTimeoutMs: options.connectionTimeoutMs }),
    };
    this.#client = new KafkaClient(this.#connection);
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
   * @param options Signal, limit, and the database's cursors (`topic/partition` → offset) with
   * their identities; `resetCursors` starts every partition at its earliest offset.
   * @returns Alerts and rejected messages with their cursors.
   * @throws {SourceError} When Kafka cannot be reached, authentication fails, a topic does not
   * exist, the consumer fails, or the stored cursors point into another cluster or topic, or past
   * a partition's end.
   */
  async *alerts(options: AlertsOptions = {}): AsyncGenerator<SourcedAlert, void, undefined> {
    const { signal, limit = Infinity, resumeFrom = new Map(), resetCursors = false } = options;
    const topics = this.#options.topics;
    const prepared = this.#prepared ?? this.#start();
    this.#prepared = null;
    const starting = prepared.reader;
    let reader: MessageReader | null = null;
    try {
      const cluster = await prepared.cluster;
      if (!resetCursors) {
        await this.#checkCursors(cluster, resumeFrom, options.identities ?? new Map());
      }
      this.#identities = new Map(topics.flatMap((topic) => {
        const identity = _identity(cluster.clusterId, cluster.topicIds.get(topic) ?? null);
        return identity === null ? [] : [[topic, identity]];
      }));
      const consume: ConsumeOptions = {
        groupId: this.#options.groupId,
        topics,
        startAt: resetCursors ? "earliest" : this.#options.startAt ?? "committed",
        stored: resumeFrom,
        maxMessageBytes: this.#options.maxMessageBytes ?? 16 << 20,
        sessionTimeoutMs: this.#options.sessionTimeoutMs ?? 10_000,
      };
      reader = await starting;
      if (reader === null) yield* this.#onThisThread(consume, signal, limit);
      else yield* this.#throughWorker(reader, consume, signal, limit);
    } finally {
      this.#reader = null;
      await (reader ?? await starting)?.close();
    }
  }

  // The consumer in the message worker, which decodes what it can (see _message_reader.ts).
  async *#throughWorker(
    reader: MessageReader,
    consume: ConsumeOptions,
    signal: AbortSignal | undefined,
    limit: number,
  ): AsyncGenerator<SourcedAlert, void, undefined> {
    this.#reader = reader;
    await reader.consume({
      connection: this.#connection,
      // A first message larger than a fetch still comes whole (Kafka 0.10.1 and later).
      consume: {
        ...consume,
        fetchMaxBytes: WORKER_FETCH_BYTES,
        fetchPartitionBytes: WORKER_PARTITION_BYTES,
      },
      format: this.#options.format ?? "auto",
      source: this.name,
      ahead: AHEAD,
      chunkMessages: CHUNK_MESSAGES,
      chunkBytes: CHUNK_BYTES,
      resolveSchema: async (id) => {
        try {
          return storedSchema(await this.#resolver.byId(id));
        } catch {
          // Its messages are decoded here, and fail here as they always have.
          return null;
        }
      },
    });
    let yielded = 0;
    while (yielded < limit) {
      const chunk = await reader.next(signal);
      if (chunk === null) return;
      for (const { record, decoded } of chunk.messages) {
        if (yielded >= limit) break;
        const items = decoded === null
          ? await this.#decode(record)
          : decoded instanceof Error
          ? this.#rejected(record, decoded)
          : this.#accepted(record, [decoded]);
        for (const item of items) {
          // A schema this thread resolved itself: the worker decodes its next messages.
          const schema = item.kind === "alert" ? item.raw?.schema : undefined;
          if (decoded === null && typeof schema?.id === "number") reader.learn(schema.id, schema);
          yield item;
          yielded++;
        }
      }
      reader.ack(chunk);
    }
  }

  // The consumer and the decoding on the calling thread (one core, or no worker module).
  async *#onThisThread(
    consume: ConsumeOptions,
    signal: AbortSignal | undefined,
    limit: number,
  ): AsyncGenerator<SourcedAlert, void, undefined> {
    const stream = await this.#client.consume(consume);
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
    if (this.#reader !== null) {
      // Sent, not awaited: the worker commits in order while the next batch is read and
      // stored, and before its consumer leaves the group. The database's cursors are what
      // resumes a run, so a commit that is lost duplicates nothing.
      this.#reader.commit(positions).catch(() => {});
      return;
    }
    await this.#stream?.commit(positions);
  }

  /**
   * Of the streams with stored cursors, the partitions of this source's topics.
   *
   * @param streams Streams with stored cursors.
   * @returns Those of the form `<topic>/<partition>` for one of its topics.
   */
  ownStreams(streams: readonly string[]): Promise<string[]> {
    const topics = new Set(this.#options.topics);
    return Promise.resolve(streams.filter((s) => {
      const partition = _partitionOf(s);
      return partition !== null && topics.has(partition.topic);
    }));
  }

  /**
   * The group's committed offset and lag on each partition of its topics.
   *
   * @returns One entry per partition.
   */
  lag(): Promise<PartitionLag[]> {
    return this.#client.lag(this.#options.groupId, this.#options.topics);
  }

  /**
   * Start loading the message worker and reading the cluster's metadata (brokers reachable,
   * credentials accepted, topics there, their ids), which the next {@linkcode KafkaSource.alerts}
   * takes over: the pipeline calls this before the storage starts.
   *
   * @returns Stops the worker, when `alerts()` will not be called.
   */
  prepare(): () => Promise<void> {
    this.#prepared ??= this.#start();
    return () => this.#unprepare();
  }

  /** Leave the group. Safe to call twice. */
  async [Symbol.asyncDispose](): Promise<void> {
    const stream = this.#stream;
    const reader = this.#reader;
    this.#stream = null;
    this.#reader = null;
    await stream?.close();
    await reader?.close();
    await this.#unprepare();
  }

  // The worker loads while the cluster is checked, and both while whatever comes first (the
  // storage's start, reading the cursors) runs.
  #start(): _Prepared {
    const topics = this.#options.topics;
    const wanted = this.#options.decodeWorker ?? navigator.hardwareConcurrency > 1;
    const reader = wanted ? MessageReader.start() : Promise.resolve(null);
    const cluster = this.#client.check(topics).then(() => this.#client.identify(topics));
    // Awaited by alerts(); a source disposed unread drops it.
    cluster.catch(() => {});
    return { reader, cluster };
  }

  async #unprepare(): Promise<void> {
    const prepared = this.#prepared;
    this.#prepared = null;
    await (await prepared?.reader)?.close();
  }

  // Stored offsets mean something only on the cluster and topic they were read from: a topic
  // deleted and created again, a rebuilt cluster or another one (test, then production) restart
  // offsets at 0, and resuming after the old ones would skip every new message up to them.
  async #checkCursors(
    cluster: ClusterIdentity,
    stored: ReadonlyMap<string, string>,
    identities: ReadonlyMap<string, string>,
  ): Promise<void> {
    const problems: string[] = [];
    const changed = new Set<string>();
    let otherCluster: string | null = null;
    for (const topic of this.#options.topics) {
      const cursors = [...stored].flatMap(([stream, position]) => {
        const partition = _partitionOf(stream);
        return partition?.topic === topic && /^\d+$/.test(position)
          ? [{ stream, partition: partition.partition, offset: BigInt(position) }]
          : [];
      });
      if (cursors.length === 0) continue;
      // Cursors stored by older versions have no identity: unknown, so accepted (and recorded
      // with the next batch); the partitions' ends below still apply to them.
      const topicId = cluster.topicIds.get(topic) ?? null;
      let otherTopic: string | null = null;
      for (const { stream } of cursors) {
        const was = _identityParts(identities.get(stream));
        if (was.cluster !== undefined && cluster.clusterId !== null) {
          if (was.cluster !== cluster.clusterId) otherCluster ??= was.cluster;
        }
        if (was.topic !== undefined && topicId !== null && was.topic !== topicId) {
          otherTopic ??= was.topic;
        }
      }
      if (otherCluster !== null) {
        changed.add(topic);
        continue;
      }
      if (otherTopic !== null) {
        problems.push(
          `topic "${topic}" has id "${topicId}" but its cursors were stored for id "${otherTopic}" (it was deleted and created again)`,
        );
        changed.add(topic);
        continue;
      }
      const marks = await this.#client.watermarks(topic);
      const past: string[] = [];
      for (const { partition, offset } of cursors.sort((a, b) => a.partition - b.partition)) {
        const mark = marks.get(partition);
        if (mark === undefined) {
          past.push(`partition ${partition} no longer exists (cursor at offset ${offset})`);
        } else if (offset >= BigInt(mark.high)) {
          past.push(
            `partition ${partition} ends at offset ${mark.high} but its cursor is at offset ${offset}`,
          );
        }
      }
      if (past.length > 0) {
        const shown = past.slice(0, 3).join(", ");
        const more = past.length > 3 ? ` and ${past.length - 3} more partitions` : "";
        problems.push(`in topic "${topic}", ${shown}${more}`);
        changed.add(topic);
      }
    }
    if (otherCluster !== null) {
      problems.unshift(
        `the cluster has id "${cluster.clusterId}" but the cursors were stored from cluster "${otherCluster}" (another cluster, or one rebuilt)`,
      );
    }
    if (problems.length === 0) return;
    throw new SourceError(
      `Stored cursors of source "${this.name}" do not match Kafka at "${this.#client.brokers}": ${
        problems.join("; ")
      }. Offsets started again, so resuming would skip new messages: ingest again with --reset-cursors to read ${
        [...changed].map((t) => `"${t}"`).join(", ")
      } from the start (alerts already stored are not stored twice)`,
    );
  }

  async #decode(record: KafkaRecord): Promise<SourcedAlert[]> {
    const bytes = record.value;
    try {
      if (bytes === null || bytes.length === 0) throw new RangeError("The message has no value");
      if (messageFormat(bytes, this.#options.format ?? "auto") === "confluent") {
        return this.#accepted(record, [await decodeFramed(bytes, this.#resolver, this.name)]);
      }
      return this.#accepted(record, await decodeContainer(bytes, this.#resolver, this.name));
    } catch (error) {
      if (error instanceof SourceError) throw error;
      return this.#rejected(record, error as Error);
    }
  }

  #cursor(record: KafkaRecord): SourceCursor {
    const stream = `${record.topic}/${record.partition}`;
    const identity = this.#identities.get(record.topic);
    return identity === undefined
      ? { stream, position: record.offset }
      : { stream, position: record.offset, identity };
  }

  #accepted(record: KafkaRecord, alerts: readonly DecodedPacket[]): SourcedAlert[] {
    const cursor = this.#cursor(record);
    // Several alerts in one message share its offset: only the last one marks it done.
    return alerts.map(({ alert, raw }, i) => ({
      kind: "alert",
      alert,
      raw,
      cursor: i < alerts.length - 1 ? { ...cursor, more: true } : cursor,
    }));
  }

  #rejected(record: KafkaRecord, error: Error): SourcedAlert[] {
    const cursor = this.#cursor(record);
    const where =
      `partition ${record.partition} of topic "${record.topic}" at offset ${record.offset}`;
    return [{
      kind: "rejected",
      error: new AlertParseError(`Cannot decode the message in ${where}: ${error.message}`, {
        stream: cursor.stream,
        position: record.offset,
        cause: error,
      }),
      raw: record.value,
      cursor,
    }];
  }
}

// `SourceCursor.identity` of a topic's partitions: the ids the broker gives, `null` for none.
function _identity(clusterId: string | null, topicId: string | null): string | null {
  const parts = [
    ...(clusterId === null ? [] : [`cluster=${clusterId}`]),
    ...(topicId === null ? [] : [`topic=${topicId}`]),
  ];
  return parts.length === 0 ? null : parts.join(" ");
}

function _identityParts(identity: string | undefined): { cluster?: string; topic?: string } {
  const parts: { cluster?: string; topic?: string } = {};
  for (const part of identity?.split(" ") ?? []) {
    const [key, value] = part.split("=", 2);
    if (value !== undefined && (key === "cluster" || key === "topic")) parts[key] = value;
  }
  return parts;
}

function _partitionOf(stream: string): { topic: string; partition: number } | null {
  const slash = stream.lastIndexOf("/");
  const partition = stream.slice(slash + 1);
  return slash > 0 && /^\d+$/.test(partition)
    ? { topic: stream.slice(0, slash), partition: Number(partition) }
    : null;
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
