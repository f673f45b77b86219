/**
 * The one place that talks to kafkajs (unmaintained upstream since 2023: keep it replaceable).
 * It turns kafkajs's push-style consumer into a pull-style stream with backpressure, commits
 * only what the caller says is stored, and turns kafkajs errors into clear `SourceError`s.
 *
 * @module
 */

import {
  type Admin,
  CompressionCodecs,
  CompressionTypes,
  type Consumer,
  Kafka,
  type Kafka as KafkaClientType,
  logLevel,
  Partitioners,
  type Producer,
  type SASLOptions,
} from "npm:kafkajs@2.2.4";
import { Buffer } from "node:buffer";
import process from "node:process";
import { readFileSync } from "node:fs";
import snappy from "npm:snappyjs@0.7.0";
import { snappyClaim, snappyUncompressInto } from "../../avro/snappy.ts";
import lz4 from "npm:lz4js@0.2.0";
import { decompress as zstdDecompress } from "npm:fzstd@0.1.1";
import { SourceError } from "../../model/errors.ts";
import { firstRecordValue } from "./_record_peek.ts";

/** SASL credentials. */
export interface KafkaSasl {
  /** Mechanism (Rubin: scram-sha-512; ANTARES: plain). */
  mechanism: "plain" | "scram-sha-256" | "scram-sha-512";
  /** User name. */
  username: string;
  /** Password; never logged. */
  password: string;
}

/** TLS settings; certificates are verified unless said otherwise. */
export interface KafkaTls {
  /** PEM file of the CA that signed the brokers' certificates. Default: the system's CAs. */
  caFile?: string;
  /** Verify the certificate chain. Default `true`. */
  verify?: boolean;
  /** Verify that the certificate names the host. Default `true`. */
  verifyHostname?: boolean;
}

/** How to reach a cluster. */
export interface KafkaConnection {
  /** `host:port` of one or more brokers. */
  brokers: string[];
  /** Client id shown in broker logs. */
  clientId: string;
  /** SASL, when the listener needs it. */
  sasl?: KafkaSasl;
  /** TLS, when the listener needs it. */
  tls?: KafkaTls;
  /** Connection and authentication timeout in ms. */
  connectionTimeoutMs?: number;
}

/** One message as the source needs it. */
export interface KafkaRecord {
  /** Topic. */
  topic: string;
  /** Partition. */
  partition: number;
  /** Offset, decimal. */
  offset: string;
  /** Value bytes, `null` for a tombstone. */
  value: Uint8Array | null;
}

/** Committed position and lag of one partition. */
export interface PartitionLag {
  /** Topic. */
  topic: string;
  /** Partition. */
  partition: number;
  /** Next offset the group will read, `null` when it never committed. */
  committed: string | null;
  /** Offset after the partition's last message (high watermark). */
  end: string;
  /** Messages not yet consumed. */
  lag: number;
}

/**
 * What a cluster and its topics are: ids that change when a cluster is rebuilt or a topic is
 * deleted and created again, while names and offsets stay the same.
 */
export interface ClusterIdentity {
  /** The cluster's id, `null` when the broker does not give one. */
  clusterId: string | null;
  /** Each topic's id (Kafka 2.8 and later), `null` when the broker does not give one. */
  topicIds: Map<string, string | null>;
}

/** Consecutive consumer restarts after which the stream fails instead of retrying. */
const MAX_RESTARTS = 5;

// How long the broker holds a fetch when there is nothing new. Leaving the group waits for the
// fetch in flight, so this is also how long a run takes to stop once its last alert is stored
// (500 ms added a third to a 20,000-alert run); an idle consumer asks 10 times a second.
const FETCH_MAX_WAIT_MS = 100;

/** Where a consumer starts on partitions it is given. */
export type StartAt = "earliest" | "latest" | "committed";

/** Options of {@linkcode KafkaClient.consume}. */
export interface ConsumeOptions {
  /** Consumer group. */
  groupId: string;
  /** Topics to subscribe to. */
  topics: string[];
  /** Start position: committed offsets (earliest for a new group), or always earliest/latest. */
  startAt: StartAt;
  /** Last stored offset per `topic/partition` (the database's cursors): never re-delivered. */
  stored: ReadonlyMap<string, string>;
  /** Largest message expected, in bytes (fetch sizes follow it). */
  maxMessageBytes: number;
  /** Group session timeout in ms. */
  sessionTimeoutMs: number;
  /**
   * Most bytes one fetch returns, over all partitions (a larger first message still comes
   * whole). Default 50 MiB, or `maxMessageBytes` when larger.
   */
  fetchMaxBytes?: number;
  /**
   * Most bytes one fetch returns of each partition (a larger first message of the fetch still
   * comes whole). Default `maxMessageBytes`.
   */
  fetchPartitionBytes?: number;
}

// kafkajs computes some timer delays that can be negative; Node-compatible runtimes warn about
// each on stderr although kafkajs works as intended. Silence exactly that warning.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const name = typeof warning === "string" ? rest[0] : warning.name;
  if (name === "TimeoutNegativeWarning") return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

_registerCodecs();

/**
 * A connection to a Kafka cluster.
 */
export class KafkaClient {
  #kafka: KafkaClientType;
  #connection: KafkaConnection;

  /**
   * Describe a cluster; nothing connects until used.
   *
   * @param connection Brokers, credentials and TLS.
   */
  constructor(connection: KafkaConnection) {
    this.#connection = connection;
    const tls = connection.tls;
    this.#kafka = new Kafka({
      clientId: connection.clientId,
      brokers: connection.brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: connection.connectionTimeoutMs ?? 5000,
      authenticationTimeout: connection.connectionTimeoutMs ?? 5000,
      // Few, short retries: a wrong password or an unreachable broker must surface in seconds.
      retry: { retries: 3, initialRetryTime: 300, maxRetryTime: 2000 },
      // A copy: kafkajs attaches an authenticator holding the password to the object it is
      // given, and a caller's copy of that object with another password would reuse it.
      ...(connection.sasl === undefined ? {} : { sasl: { ...connection.sasl } as SASLOptions }),
      ...(tls === undefined ? {} : {
        ssl: {
          rejectUnauthorized: tls.verify ?? true,
          ...(tls.caFile === undefined ? {} : { ca: [readFileSync(tls.caFile, "utf8")] }),
          ...(tls.verifyHostname === false ? { checkServerIdentity: () => undefined } : {}),
        },
      }),
    });
  }

  /** The brokers, for messages. */
  get brokers(): string {
    return this.#connection.brokers.join(",");
  }

  /**
   * Connect once and read the cluster's metadata, so bad credentials or an unreachable broker
   * fail here with a clear message.
   *
   * @param topics Topics that must exist. Default: none checked.
   * @throws {SourceError} Naming the brokers and what failed.
   */
  async check(topics: readonly string[] = []): Promise<void> {
    const admin = this.#kafka.admin();
    let existing: string[];
    try {
      await admin.connect();
      existing = await admin.listTopics();
    } catch (error) {
      throw this.#error("connect to", error);
    } finally {
      await admin.disconnect().catch(() => {});
    }
    const missing = topics.filter((t) => !existing.includes(t));
    if (missing.length > 0) {
      throw new SourceError(
        `Topic${missing.length > 1 ? "s" : ""} ${missing.map((t) => `"${t}"`).join(", ")} ${
          missing.length > 1 ? "do" : "does"
        } not exist on Kafka at "${this.brokers}"`,
      );
    }
  }

  /**
   * Start consuming.
   *
   * @param options Group, topics, start position and stored cursors.
   * @returns The stream of messages.
   */
  async consume(options: ConsumeOptions): Promise<KafkaStream> {
    const consumer = this.#kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.max(1000, Math.floor(options.sessionTimeoutMs / 10)),
      maxBytesPerPartition: options.fetchPartitionBytes ?? options.maxMessageBytes,
      maxBytes: options.fetchMaxBytes ?? Math.max(options.maxMessageBytes, 50 << 20),
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
      allowAutoTopicCreation: false,
      retry: { retries: 3, initialRetryTime: 300, maxRetryTime: 2000 },
    });
    const stream = new KafkaStream(consumer, this.#kafka, options);
    try {
      await stream.start();
    } catch (error) {
      await stream.close();
      throw this.#error("consume from", error);
    }
    return stream;
  }

  /**
   * How many members a consumer group has now (0 when it is empty or unknown).
   *
   * @param groupId The group.
   * @returns The member count.
   */
  async groupMembers(groupId: string): Promise<number> {
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      const { groups } = await admin.describeGroups([groupId]);
      const group = groups[0];
      return group !== undefined && group.state === "Stable" ? group.members.length : 0;
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * Committed offsets and lag of a group on its topics.
   *
   * @param groupId The group.
   * @param topics Topics; default: every topic the group committed to.
   * @returns One entry per partition.
   */
  async lag(groupId: string, topics?: readonly string[]): Promise<PartitionLag[]> {
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      const committed = await admin.fetchOffsets({
        groupId,
        ...(topics === undefined ? {} : { topics: [...topics] }),
      });
      const out: PartitionLag[] = [];
      for (const { topic, partitions } of committed) {
        const ends = await admin.fetchTopicOffsets(topic);
        for (const end of ends) {
          const done = partitions.find((p) => p.partition === end.partition)?.offset ?? "-1";
          const start = BigInt(done) >= 0n ? BigInt(done) : BigInt(end.low);
          out.push({
            topic,
            partition: end.partition,
            committed: BigInt(done) >= 0n ? done : null,
            end: end.high,
            lag: Number(BigInt(end.high) - start),
          });
        }
      }
      return out.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    } catch (error) {
      throw this.#error('read the offsets of group "' + groupId + '" from', error);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * Low and high watermarks of a topic's partitions.
   *
   * @param topic The topic.
   * @returns Offsets by partition.
   */
  async watermarks(topic: string): Promise<Map<number, { low: string; high: string }>> {
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      const offsets = await admin.fetchTopicOffsets(topic);
      return new Map(offsets.map((o) => [o.partition, { low: o.low, high: o.high }]));
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * The cluster's id and its topics' ids, so stored offsets can be told from offsets of another
   * cluster or of a topic created again under the same name.
   *
   * @param topics The topics.
   * @returns The ids the brokers give (topic ids need Kafka 2.8 or later).
   * @throws {SourceError} When the brokers cannot be asked.
   */
  async identify(topics: readonly string[]): Promise<ClusterIdentity> {
    // Without topic ids, offsets past a partition's end still tell a topic created again
    // with fewer messages. An unreachable broker fails the fallback just the same.
    const identity = await this.#metadataIds(topics).catch(() => null);
    if (identity !== null) return identity;
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      const { clusterId } = await admin.describeCluster();
      return { clusterId: clusterId || null, topicIds: new Map(topics.map((t) => [t, null])) };
    } catch (error) {
      throw this.#error("describe the cluster of", error);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * Create a topic (tests and benchmarks), waiting for its leaders.
   *
   * @param topic Name.
   * @param partitions Partition count.
   * @param config Topic configuration, such as `compression.type`.
   */
  async createTopic(
    topic: string,
    partitions: number,
    config: Record<string, string> = {},
  ): Promise<void> {
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{
          topic,
          numPartitions: partitions,
          replicationFactor: 1,
          configEntries: Object.entries(config).map(([name, value]) => ({ name, value })),
        }],
      });
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * Produce messages (tests, benchmarks, `--save` style tools).
   *
   * @param topic Topic.
   * @param values Message values.
   * @param options Compression and target partition (default: spread round-robin).
   */
  async produce(
    topic: string,
    values: readonly Uint8Array[],
    options: { compression?: "none" | "gzip" | "snappy" | "lz4"; partition?: number } = {},
  ): Promise<void> {
    const producer: Producer = this.#kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    await producer.connect();
    try {
      const compression = {
        none: CompressionTypes.None,
        gzip: CompressionTypes.GZIP,
        snappy: CompressionTypes.Snappy,
        lz4: CompressionTypes.LZ4,
      }[options.compression ?? "none"];
      // Batches of bounded size: one request must stay under the broker's request limit.
      let batch: { value: Buffer; partition?: number }[] = [];
      let bytes = 0;
      const send = async () => {
        if (batch.length > 0) await producer.send({ topic, compression, messages: batch });
        batch = [];
        bytes = 0;
      };
      for (const value of values) {
        batch.push({
          value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
          ...(options.partition === undefined ? {} : { partition: options.partition }),
        });
        bytes += value.length;
        if (bytes > 4 << 20 || batch.length >= 500) await send();
      }
      await send();
    } finally {
      await producer.disconnect();
    }
  }

  // kafkajs asks for metadata up to version 6, which has no topic ids (version 10 and later,
  // Kafka 2.8). Its cluster object, built as for its own clients and authenticated the same
  // way, can send any request: one Metadata request of version 10 to 12, encoded and decoded
  // here, gives the ids. kafkajs is pinned and frozen upstream, so these internals stay put;
  // `null` when they are missing or the broker is older.
  async #metadataIds(topics: readonly string[]): Promise<ClusterIdentity | null> {
    const create = Object.getOwnPropertySymbols(this.#kafka).find((symbol) =>
      symbol.description === "private:Kafka:createCluster"
    );
    if (create === undefined) return null;
    const factory = (this.#kafka as unknown as Record<symbol, unknown>)[create];
    if (typeof factory !== "function") return null;
    const cluster = factory({ allowAutoTopicCreation: false }) as _Cluster;
    await cluster.connect();
    try {
      const broker = await cluster.brokerPool.findConnectedBroker();
      const max = broker.versions?.[METADATA_API]?.maxVersion ?? -1;
      if (max < 10) return null;
      const version = Math.min(max, 12);
      const body = _metadataRequest(topics, version);
      const payload = await broker.connectionPool.send({
        request: {
          apiKey: METADATA_API,
          apiVersion: version,
          apiName: "Metadata",
          // kafkajs copies what an encoder holds: these bytes stand in for one.
          encode: () => Promise.resolve({ buf: body, buffer: body }),
        },
        response: {
          decode: (raw: Buffer) => Promise.resolve(raw),
          parse: (raw: Buffer) => Promise.resolve(raw),
        },
      });
      return _metadataIds(payload, topics);
    } finally {
      await cluster.disconnect().catch(() => {});
    }
  }

  /**
   * A `SourceError` that names the brokers and never the password.
   *
   * @param action What was being done ("connect to").
   * @param error The kafkajs error.
   * @returns The error to throw.
   */
  #error(action: string, error: unknown): SourceError {
    if (error instanceof SourceError) return error;
    const name = (error as Error)?.name ?? "";
    const message = (error as Error)?.message ?? String(error);
    const where = `Kafka at "${this.brokers}"`;
    if (name === "KafkaJSSASLAuthenticationError") {
      return new SourceError(`Cannot ${action} ${where}: authentication failed (${message})`, {
        cause: error,
      });
    }
    if (/altnames|Hostname/i.test(message)) {
      return new SourceError(
        `Cannot ${action} ${where}: TLS verification failed (${message}); the certificate names another host`,
        { cause: error },
      );
    }
    if (/certificate|CERT_|UNABLE_TO_VERIFY|SSL routines/i.test(message)) {
      return new SourceError(
        `Cannot ${action} ${where}: TLS verification failed (${message}); give the broker's CA with --ca-file`,
        { cause: error },
      );
    }
    if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|Connection timeout|Connection error/i.test(message)) {
      return new SourceError(`Cannot ${action} ${where}: the broker is unreachable (${message})`, {
        retriable: true,
        cause: error,
      });
    }
    return new SourceError(`Cannot ${action} ${where}: ${message}`, {
      retriable: name === "KafkaJSNumberOfRetriesExceeded",
      cause: error,
    });
  }
}

/**
 * Messages of a consumer group, pulled one at a time. kafkajs delivers batches to a callback;
 * the callback hands each message over and waits until it is taken, so nothing is read ahead
 * of what the caller consumes.
 */
export class KafkaStream {
  #consumer: Consumer;
  #kafka: KafkaClientType;
  #options: ConsumeOptions;
  #stored = new Map<string, bigint>();
  #offered: KafkaRecord[] = [];
  // Partitions (`topic/partition`) with more in Kafka than fetched: those whose last batch
  // stopped short of their end, and those assigned and not fetched yet.
  #behind = new Set<string>();
  #next = 0;
  #taken: (() => void) | null = null;
  #arrived: (() => void) | null = null;
  #failure: Error | null = null;
  #closed = false;
  #joins = 0;
  #assigned: Promise<void> = Promise.resolve();
  #crashes = 0;
  // An admin connected while the group is joined, for the first assignment's offsets: one
  // connected only once assigned held the first fetch back by a few round trips.
  #early: Promise<Admin | null> | null = null;

  /**
   * Wrap a kafkajs consumer.
   *
   * @param consumer The consumer.
   * @param kafka Its client (for offsets when seeking).
   * @param options What to consume.
   */
  constructor(consumer: Consumer, kafka: KafkaClientType, options: ConsumeOptions) {
    this.#consumer = consumer;
    this.#kafka = kafka;
    this.#options = options;
    for (const [stream, offset] of options.stored) {
      if (/^\d+$/.test(offset)) this.#stored.set(stream, BigInt(offset));
    }
  }

  /** Connect, subscribe and start the fetch loop. */
  async start(): Promise<void> {
    const consumer = this.#consumer;
    const { GROUP_JOIN, CRASH } = consumer.events;
    consumer.on(GROUP_JOIN, (event) => {
      // Each assigned partition may hold a backlog until its first batch says otherwise.
      this.#behind = new Set(
        Object.entries(event.payload.memberAssignment).flatMap(([topic, partitions]) =>
          partitions.map((partition) => `${topic}/${partition}`)
        ),
      );
      this.#assigned = this.#onAssignment(event.payload.memberAssignment).catch((error) =>
        this.#fail(error)
      );
    });
    consumer.on(CRASH, (event) => {
      // kafkajs restarts after errors it deems retriable, forever: a batch that can never be
      // read (a codec failure) would stall the run silently. Give up after a few in a row.
      if (!event.payload.restart || ++this.#crashes >= MAX_RESTARTS) {
        this.#fail(event.payload.error);
      }
    });
    if (this.#options.startAt !== "committed" || this.#stored.size > 0) {
      const admin = this.#kafka.admin();
      this.#early = admin.connect().then(() => admin, () => null);
    }
    await consumer.connect();
    await consumer.subscribe({
      topics: this.#options.topics,
      fromBeginning: this.#options.startAt !== "latest",
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        // kafkajs fetches from Kafka's commit while the assignment's seek (start position, the
        // database's cursors) is still being worked out: wait for it, then drop a batch the
        // seek made stale, or records past the cursors would be handed over twice.
        await this.#assigned;
        if (!isRunning() || isStale() || this.#closed) return;
        const stream = `${batch.topic}/${batch.partition}`;
        const stored = this.#stored.get(stream) ?? -1n;
        const records: KafkaRecord[] = [];
        for (const message of batch.messages) {
          if (BigInt(message.offset) > stored) {
            records.push({
              topic: batch.topic,
              partition: batch.partition,
              offset: message.offset,
              value: message.value,
            });
          }
        }
        this.#crashes = 0;
        if (batch.messages.length > 0) {
          const end = BigInt(batch.lastOffset()) + 1n;
          if (end < BigInt(batch.highWatermark)) this.#behind.add(stream);
          else this.#behind.delete(stream);
        }
        if (records.length > 0 && !(await this.#offer(records, heartbeat))) return;
        if (batch.messages.length > 0) resolveOffset(batch.lastOffset());
      },
    });
  }

  /**
   * The next message, waiting for one.
   *
   * @param signal Stops the wait.
   * @returns The message, or `null` when the signal aborted or the stream closed.
   * @throws {SourceError} When the consumer failed.
   */
  async next(signal?: AbortSignal): Promise<KafkaRecord | null> {
    return (await this.#take(1, signal))?.[0] ?? null;
  }

  /**
   * The rest of the batch kafkajs fetched for one partition, waiting for one: the caller takes
   * it whole, so kafkajs fetches the next while the caller decodes this one.
   *
   * @param signal Stops the wait.
   * @returns The messages (at least one, all of one topic and partition, in offset order), or
   * `null` when the signal aborted or the stream closed.
   * @throws {SourceError} When the consumer failed.
   */
  nextBatch(signal?: AbortSignal): Promise<KafkaRecord[] | null> {
    return this.#take(Infinity, signal);
  }

  /**
   * The partitions with more messages in Kafka than fetched, as far as the stream knows: those
   * whose last batch stopped short of their end, and those assigned whose first batch has not
   * come (until {@linkcode KafkaStream.forgetBehind}).
   *
   * @returns `topic/partition` keys.
   */
  behind(): ReadonlySet<string> {
    return this.#behind;
  }

  /**
   * Take every partition as caught up until its next batch says otherwise: a partition assigned
   * but empty sends no batch to say so.
   */
  forgetBehind(): void {
    this.#behind.clear();
  }

  /**
   * The rest of the batch kafkajs offers now, without waiting.
   *
   * @returns The messages, or `null` when none are offered (or the stream closed or failed).
   */
  takeOffered(): KafkaRecord[] | null {
    if (this.#failure !== null || this.#closed) return null;
    return this.#takeNow(Infinity);
  }

  // Up to `count` offered messages, taken in the same turn they are found: kafkajs replaces the
  // offered batch as soon as the last one is taken.
  async #take(count: number, signal?: AbortSignal): Promise<KafkaRecord[] | null> {
    for (;;) {
      if (this.#failure !== null) throw this.#failure;
      if (this.#closed || signal?.aborted) return null;
      const records = this.#takeNow(count);
      if (records !== null) return records;
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener("abort", wake);
          this.#arrived = null;
          resolve();
        };
        this.#arrived = wake;
        signal?.addEventListener("abort", wake, { once: true });
      });
    }
  }

  #takeNow(count: number): KafkaRecord[] | null {
    if (this.#next >= this.#offered.length) return null;
    const end = Math.min(this.#offered.length, this.#next + count);
    const records = this.#offered.slice(this.#next, end);
    this.#next = end;
    if (end === this.#offered.length) {
      // The batch is all taken: let kafkajs hand over the next one, or fetch again.
      const taken = this.#taken;
      this.#taken = null;
      taken?.();
    }
    return records;
  }

  /**
   * Commit the offsets after these stored positions. A commit refused because the group is
   * rebalancing is not an error: the stored cursor covers it.
   *
   * @param positions Last stored offset per topic and partition.
   * @returns Whether Kafka accepted the commit.
   */
  async commit(
    positions: readonly { topic: string; partition: number; offset: string }[],
  ): Promise<boolean> {
    for (const p of positions) {
      const key = `${p.topic}/${p.partition}`;
      const stored = BigInt(p.offset);
      if ((this.#stored.get(key) ?? -1n) < stored) this.#stored.set(key, stored);
    }
    if (this.#closed || positions.length === 0) return false;
    try {
      await this.#consumer.commitOffsets(
        positions.map((p) => ({
          topic: p.topic,
          partition: p.partition,
          offset: (BigInt(p.offset) + 1n).toString(),
        })),
      );
      return true;
    } catch {
      return false;
    }
  }

  /** Leave the group and disconnect. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#taken?.();
    this.#arrived?.();
    await this.#consumer.disconnect().catch(() => {});
    const early = this.#early;
    this.#early = null;
    await (await early)?.disconnect().catch(() => {});
  }

  async #offer(records: KafkaRecord[], heartbeat: () => Promise<void>): Promise<boolean> {
    if (this.#closed) return false;
    this.#offered = records;
    this.#next = 0;
    const taken = new Promise<void>((resolve) => (this.#taken = resolve));
    this.#arrived?.();
    // Keep the group membership alive while the caller stores what it took.
    const beat = setInterval(() => heartbeat().catch(() => {}), 3000);
    try {
      await taken;
    } finally {
      clearInterval(beat);
    }
    return !this.#closed;
  }

  // On every (re)assignment: never re-read what the database already holds, and apply the
  // requested start position the first time.
  async #onAssignment(assignment: Record<string, number[]>): Promise<void> {
    const first = this.#joins++ === 0;
    const early = this.#early;
    this.#early = null;
    const anyStored = Object.entries(assignment).some(([topic, partitions]) =>
      partitions.some((partition) => this.#stored.has(`${topic}/${partition}`))
    );
    // Kafka's committed offsets apply as they are: nothing to seek or to commit.
    if (!anyStored && !(first && this.#options.startAt !== "committed")) {
      await (await early)?.disconnect().catch(() => {});
      return;
    }
    let admin = (await early) ?? null;
    if (admin === null) {
      admin = this.#kafka.admin();
      await admin.connect();
    }
    try {
      const committed = await admin.fetchOffsets({
        groupId: this.#options.groupId,
        topics: Object.keys(assignment),
      });
      for (const [topic, partitions] of Object.entries(assignment)) {
        const marks = new Map(
          (await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o]),
        );
        for (const partition of partitions) {
          const done = BigInt(
            committed.find((t) => t.topic === topic)?.partitions.find((p) =>
              p.partition === partition
            )
              ?.offset ?? "-1",
          );
          let target: bigint | null = null;
          if (first && this.#options.startAt === "earliest") {
            target = BigInt(marks.get(partition)?.low ?? "0");
          } else if (first && this.#options.startAt === "latest") {
            target = BigInt(marks.get(partition)?.high ?? "0");
          }
          // Where kafkajs starts without a seek: the committed offset, else (subscribed from the
          // beginning) the earliest. A seek to where it starts anyway only makes its first
          // fetch stale, to be fetched again.
          const low = BigInt(marks.get(partition)?.low ?? "0");
          const start = done >= 0n ? done : this.#options.startAt !== "latest" ? low : null;
          const stored = this.#stored.get(`${topic}/${partition}`);
          const after = stored === undefined ? null : stored + 1n;
          if (after !== null && (target ?? done) < after) target = after;
          if (target !== null && target !== start) {
            this.#consumer.seek({ topic, partition, offset: target.toString() });
          }
          // Those offsets are stored already: say so to Kafka too, so lag is reported right.
          if (target !== null && target === after && after > done) {
            await this.#consumer.commitOffsets([{ topic, partition, offset: after.toString() }])
              .catch(() => {});
          }
        }
      }
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  #fail(error: unknown): void {
    this.#failure = error instanceof SourceError ? error : new SourceError(
      `Kafka consumer of group "${this.#options.groupId}" failed: ${
        (error as Error)?.message ?? error
      }`,
      { cause: error },
    );
    this.#arrived?.();
  }
}

const METADATA_API = 3;

// The parts of kafkajs's cluster and broker objects that #metadataIds uses.
interface _Cluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  brokerPool: { findConnectedBroker(): Promise<_Broker> };
}

interface _Broker {
  versions?: Record<number, { minVersion: number; maxVersion: number }>;
  connectionPool: {
    send(request: {
      request: {
        apiKey: number;
        apiVersion: number;
        apiName: string;
        encode: () => Promise<{ buf: Buffer; buffer: Buffer }>;
      };
      response: {
        decode: (raw: Buffer) => Promise<Buffer>;
        parse: (raw: Buffer) => Promise<Buffer>;
      };
    }): Promise<Buffer>;
  };
}

// Metadata request, versions 10 to 12 (flexible): topics by name, nothing created.
function _metadataRequest(topics: readonly string[], version: number): Buffer {
  // kafkajs writes request header v1; header v2 only adds its tagged fields, which lead here.
  const out: number[] = [0];
  out.push(..._uvarint(topics.length + 1));
  for (const topic of topics) {
    const name = new TextEncoder().encode(topic);
    out.push(...new Array(16).fill(0), ..._uvarint(name.length + 1), ...name, 0);
  }
  out.push(0); // allow_auto_topic_creation
  if (version === 10) out.push(0); // include_cluster_authorized_operations
  out.push(0, 0); // include_topic_authorized_operations, tagged fields
  return Buffer.from(out);
}

// The cluster id and topic ids of a Metadata response, versions 10 to 12; the rest is skipped.
function _metadataIds(payload: Uint8Array, topics: readonly string[]): ClusterIdentity {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  let at = 0;
  const uvarint = (): number => {
    let value = 0;
    for (let shift = 0;; shift += 7) {
      const byte = view.getUint8(at++);
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
  };
  const string = (): string | null => {
    const length = uvarint() - 1;
    if (length < 0) return null;
    const text = new TextDecoder().decode(payload.subarray(at, at + length));
    at += length;
    return text;
  };
  // Each read before the offset moves: `at += uvarint()` would add to the offset before it.
  const tags = (): void => {
    for (let n = uvarint(); n > 0; n--) {
      uvarint();
      const size = uvarint();
      at += size;
    }
  };
  const int32s = (): void => {
    const count = uvarint() - 1;
    at += 4 * Math.max(0, count);
  };
  tags(); // response header v1
  at += 4; // throttle_time_ms
  for (let n = uvarint() - 1; n > 0; n--) {
    at += 4; // node_id
    string(); // host
    at += 4; // port
    string(); // rack
    tags();
  }
  const clusterId = string();
  at += 4; // controller_id
  const topicIds = new Map<string, string | null>(topics.map((t) => [t, null]));
  for (let n = uvarint() - 1; n > 0; n--) {
    const error = view.getInt16(at);
    at += 2;
    const name = string();
    const id = payload.subarray(at, at + 16);
    at += 16 + 1; // topic_id, is_internal
    for (let p = uvarint() - 1; p > 0; p--) {
      at += 2 + 4 + 4 + 4; // error_code, partition_index, leader_id, leader_epoch
      int32s(); // replica_nodes
      int32s(); // isr_nodes
      int32s(); // offline_replicas
      tags();
    }
    at += 4; // topic_authorized_operations
    tags();
    // The zero id is what brokers give for topics they cannot name one for.
    if (name !== null && error === 0 && id.some((b) => b !== 0)) {
      topicIds.set(name, Buffer.from(id).toString("base64url"));
    }
  }
  return { clusterId: clusterId || null, topicIds };
}

function _uvarint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
  return out;
}

let batchPeek: ((firstValue: Uint8Array) => void) | null = null;

/**
 * Be shown the first message of each compressed record batch this thread's consumers fetch, as
 * soon as it is decompressed: kafkajs parses a whole fetch before it hands any message over.
 * A hint only: batches sent uncompressed are not shown, and nothing the callback throws reaches
 * kafkajs.
 *
 * @param peek Called with the first message's value; `null` stops.
 */
export function peekRecordBatches(peek: ((firstValue: Uint8Array) => void) | null): void {
  batchPeek = peek;
}

// Rubin compresses record batches with snappy; brokers may recompress to any codec a topic
// asks for. kafkajs ships gzip only. Each decompresses into a Buffer over its own bytes: a copy
// per batch is a copy of every cutout.
function _registerCodecs(): void {
  const codecs = CompressionCodecs as unknown as Record<number, () => unknown>;
  codecs[CompressionTypes.Snappy] = () => ({
    compress: (encoder: { buffer: Uint8Array }) => Promise.resolve(_snappyFrame(encoder.buffer)),
    decompress: (buffer: Uint8Array) => Promise.resolve(_peeked(_snappyUnframe(buffer))),
  });
  codecs[CompressionTypes.LZ4] = () => ({
    compress: (encoder: { buffer: Uint8Array }) =>
      Promise.resolve(_buffer(lz4.compress(encoder.buffer) as Uint8Array)),
    decompress: (buffer: Uint8Array) =>
      Promise.resolve(_peeked(_buffer(lz4.decompress(buffer) as Uint8Array))),
  });
  codecs[CompressionTypes.ZSTD] = () => ({
    compress: () =>
      Promise.reject(new Error("This client reads zstd batches but does not write them")),
    decompress: (buffer: Uint8Array) => Promise.resolve(_peeked(_buffer(zstdDecompress(buffer)))),
  });
}

function _peeked(records: Buffer): Buffer {
  if (batchPeek !== null) {
    const value = firstRecordValue(records);
    try {
      if (value !== null) batchPeek(value);
    } catch {
      // A hint: the batch is parsed and delivered all the same.
    }
  }
  return records;
}

function _buffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// Java clients frame snappy data the xerial way: a 16-byte header, then length-prefixed chunks.
const XERIAL = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00];

// The chunks (32 KB each, uncompressed) are decompressed in place, side by side in one buffer.
// It is shared memory: the message worker hands its messages to the consuming thread without
// copying them (see _message_chunk.ts); on one thread it is memory like any other.
function _snappyUnframe(buffer: Uint8Array): Buffer {
  try {
    return _snappyChunks(buffer);
  } catch (error) {
    throw new RangeError(`Cannot decompress a snappy record batch: ${(error as Error).message}`);
  }
}

function _snappyChunks(buffer: Uint8Array): Buffer {
  if (!XERIAL.every((b, i) => buffer[i] === b)) {
    const out = _shared(snappyClaim(buffer).length);
    snappyUncompressInto(buffer, out);
    return out;
  }
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const chunks: { data: Uint8Array; length: number }[] = [];
  let total = 0;
  for (let at = 16; at < buffer.length;) {
    if (at + 4 > buffer.length) throw new RangeError(`a chunk's length is truncated (byte ${at})`);
    const end = at + 4 + view.getUint32(at);
    if (end > buffer.length) throw new RangeError(`a chunk runs past the batch (byte ${at})`);
    const data = buffer.subarray(at + 4, end);
    // Each claim is checked before the batch's buffer is allocated.
    const { length } = snappyClaim(data);
    chunks.push({ data, length });
    total += length;
    at = end;
  }
  const out = _shared(total);
  let pos = 0;
  for (const { data, length } of chunks) {
    snappyUncompressInto(data, out.subarray(pos, pos + length));
    pos += length;
  }
  return out;
}

function _shared(length: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(length));
}

function _snappyFrame(data: Uint8Array): Buffer {
  const compressed = snappy.compress(data) as Uint8Array;
  const header = Buffer.alloc(20);
  header.set(XERIAL, 0);
  header.writeUInt32BE(1, 8); // version
  header.writeUInt32BE(1, 12); // minimum compatible version
  header.writeUInt32BE(compressed.length, 16);
  return Buffer.concat([header, compressed]);
}
