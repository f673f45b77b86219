/**
 * Alerts through the ANTARES broker (NSF NOIRLab): locus updates streamed over Kafka
 * (SASL_SSL, mechanism PLAIN with the API key and secret; zlib-compressed BSON JSON:API), and
 * each locus's alerts fetched from the ANTARES HTTP API. LSST alerts only; every property kept.
 *
 * @module
 */

import { UsageError } from "../../model/errors.ts";
import type { AlertsOptions, AlertSource, SourcedAlert } from "../alert_source.ts";
import type { SourceCursor } from "../../model/source_cursor.ts";
import {
  KafkaClient,
  type KafkaRecord,
  type KafkaStream,
  type StartAt,
} from "../kafka/_kafka_client.ts";
import { AntaresApi } from "./antares_api.ts";
import { locusItems } from "./_antares_locus_items.ts";

/** ANTARES's Kafka bootstrap server. */
export const ANTARES_BOOTSTRAP = "kafka.antares.noirlab.edu:9092";
/** ANTARES's HTTP API. */
export const ANTARES_API = "https://api.antares.noirlab.edu/v1/";
/** The consumer group used unless one is given: stable, so restarts resume. */
export const ANTARES_DEFAULT_GROUP = "lsst-extendedness-antares";

const TOPIC_PREFIX = "client.";

/** Options of {@linkcode ANTARESSource}. */
export interface ANTARESSourceOptions {
  /** ANTARES topics (filters), without the `client.` prefix, e.g. `extragalactic_staging`. */
  topics: string[];
  /** API key (the Kafka user name). Default: env `ANTARES_API_KEY`. */
  apiKey?: string;
  /** API secret (the Kafka password). Default: env `ANTARES_API_SECRET`. */
  apiSecret?: string;
  /** Consumer group. Default `lsst-extendedness-antares`. */
  groupId?: string;
  /** Brokers. Default `kafka.antares.noirlab.edu:9092`. */
  bootstrapServers?: string | string[];
  /** `sasl_ssl` (ANTARES) or `sasl_plaintext` (test brokers). Default `sasl_ssl`. */
  securityProtocol?: "sasl_ssl" | "sasl_plaintext";
  /** PEM file of the broker's CA (ANTARES uses its own). Default: the system's CAs. */
  caFile?: string;
  /** Check that the certificate names the host. Default `true`; turning it off is insecure. */
  verifyHostname?: boolean;
  /** ANTARES HTTP API base URL. Default `https://api.antares.noirlab.edu/v1/`. */
  apiBaseUrl?: string;
  /** HTTP attempts after the first, with exponential backoff. Default 4. */
  httpRetries?: number;
  /** First backoff in ms. Default 250. */
  httpBackoffMs?: number;
  /** Where to start in each topic. Default `committed` (earliest for a new group). */
  startAt?: StartAt;
  /** Group session timeout in ms. Default 10,000. */
  sessionTimeoutMs?: number;
  /** Connection timeout in ms. Default 5,000. */
  connectionTimeoutMs?: number;
}

/**
 * Streams ANTARES loci and yields their LSST alerts, sorted by time, then the locus itself (for
 * the `loci` table). A locus's alerts are re-sent with every update of the locus; they are
 * snapshots, so an alert seen again with a different `ssObjectId` is a reassociation and an
 * unchanged one adds nothing. Cursor streams are `topic/partition` without the `client.`
 * prefix.
 *
 * @example
 * ```ts ignore
 * import { ANTARESSource } from "./antares_source.ts";
 * await using source = new ANTARESSource({ topics: ["extragalactic_staging"] });
 * for await (const item of source.alerts({ limit: 1000 })) {
 *   if (item.kind === "alert") item.alert.diaSourceId;
 * }
 * ```
 */
export class ANTARESSource implements AlertSource {
  /** Always `"antares"`. */
  readonly name = "antares";
  /** What it consumes; never the secret. */
  readonly params: Readonly<Record<string, unknown>>;
  #options: ANTARESSourceOptions;
  #client: KafkaClient;
  #api: AntaresApi;
  #stream: KafkaStream | null = null;
  #groupId: string;

  /**
   * Describe what to consume; nothing connects until the alerts are read.
   *
   * @param options Topics, credentials and endpoints.
   * @throws {UsageError} When no topic is given or the API key or secret is missing.
   */
  constructor(options: ANTARESSourceOptions) {
    const topics = options.topics.map((
      t,
    ) => (t.startsWith(TOPIC_PREFIX) ? t.slice(TOPIC_PREFIX.length) : t));
    if (topics.length === 0 || topics.some((t) => t === "")) {
      throw new UsageError(
        "The antares source needs at least one --topic, e.g. extragalactic_staging",
      );
    }
    const apiKey = options.apiKey ?? Deno.env.get("ANTARES_API_KEY");
    const apiSecret = options.apiSecret ?? Deno.env.get("ANTARES_API_SECRET");
    if (!apiKey || !apiSecret) {
      throw new UsageError(
        "The antares source needs an API key and secret: --api-key/--api-secret or ANTARES_API_KEY/ANTARES_API_SECRET",
      );
    }
    this.#options = { ...options, topics };
    this.#groupId = options.groupId ?? ANTARES_DEFAULT_GROUP;
    const brokers = options.bootstrapServers ?? ANTARES_BOOTSTRAP;
    const protocol = options.securityProtocol ?? "sasl_ssl";
    this.#client = new KafkaClient({
      brokers: (Array.isArray(brokers) ? brokers : brokers.split(",")).map((b) => b.trim()),
      clientId: "lsst-extendedness",
      sasl: { mechanism: "plain", username: apiKey, password: apiSecret },
      ...(protocol === "sasl_plaintext" ? {} : {
        tls: {
          ...(options.caFile === undefined ? {} : { caFile: options.caFile }),
          verifyHostname: options.verifyHostname ?? true,
        },
      }),
      ...(options.connectionTimeoutMs === undefined
        ? {}
        : { connectionTimeoutMs: options.connectionTimeoutMs }),
    });
    this.#api = new AntaresApi({
      baseUrl: options.apiBaseUrl ?? ANTARES_API,
      ...(options.httpRetries === undefined ? {} : { retries: options.httpRetries }),
      ...(options.httpBackoffMs === undefined ? {} : { backoffMs: options.httpBackoffMs }),
    });
    this.params = {
      topics,
      groupId: this.#groupId,
      bootstrapServers: this.#client.brokers,
      securityProtocol: protocol,
      caFile: options.caFile ?? null,
      verifyHostname: options.verifyHostname ?? true,
      apiBaseUrl: options.apiBaseUrl ?? ANTARES_API,
      startAt: options.startAt ?? "committed",
    };
  }

  /** The consumer group in use (shown at start, so a restart can resume it). */
  get groupId(): string {
    return this.#groupId;
  }

  /**
   * Yield each locus's LSST alerts and then the locus, message after message.
   *
   * @param options Signal, limit and the database's cursors.
   * @returns Alerts, rejected messages or loci, and the loci, with their cursors.
   * @throws {SourceError} When Kafka cannot be reached or authentication fails.
   */
  async *alerts(options: AlertsOptions = {}): AsyncGenerator<SourcedAlert, void, undefined> {
    const { signal, limit = Infinity, resumeFrom } = options;
    const topics = this.#options.topics.map((t) => TOPIC_PREFIX + t);
    const stored = new Map<string, string>();
    for (const [stream, position] of resumeFrom ?? []) stored.set(TOPIC_PREFIX + stream, position);
    await this.#client.check(topics);
    const stream = await this.#client.consume({
      groupId: this.#groupId,
      topics,
      startAt: this.#options.startAt ?? "committed",
      stored,
      maxMessageBytes: 16 << 20,
      sessionTimeoutMs: this.#options.sessionTimeoutMs ?? 10_000,
    });
    this.#stream = stream;
    let yielded = 0;
    try {
      while (yielded < limit) {
        const record = await stream.next(signal);
        if (record === null) return;
        const items = await this.#locusItems(record, signal);
        // Aborted while its alerts were fetched (--duration, Ctrl-C): end as an abort between
        // messages does. The message is not stored, so the next run reads it again.
        if (items === null) return;
        for (const item of items) {
          yield item;
          if (item.kind !== "locus") yielded++;
        }
      }
    } finally {
      this.#stream = null;
      await stream.close();
    }
  }

  /**
   * Commit, after the pipeline stored loci and alerts, the offsets that follow their cursors.
   *
   * @param cursors The newest stored cursor of each partition.
   */
  async acknowledge(cursors: readonly SourceCursor[]): Promise<void> {
    const positions = cursors.flatMap((c) => {
      const slash = c.stream.lastIndexOf("/");
      const partition = Number(c.stream.slice(slash + 1));
      return /^\d+$/.test(c.position) && Number.isInteger(partition)
        ? [{ topic: TOPIC_PREFIX + c.stream.slice(0, slash), partition, offset: c.position }]
        : [];
    });
    await this.#stream?.commit(positions);
  }

  /** Leave the group. Safe to call twice. */
  async [Symbol.asyncDispose](): Promise<void> {
    const stream = this.#stream;
    this.#stream = null;
    await stream?.close();
  }

  async #locusItems(
    record: KafkaRecord,
    signal?: AbortSignal,
  ): Promise<SourcedAlert[] | null> {
    const topic = record.topic.startsWith(TOPIC_PREFIX)
      ? record.topic.slice(TOPIC_PREFIX.length)
      : record.topic;
    const cursor: SourceCursor = {
      stream: `${topic}/${record.partition}`,
      position: record.offset,
    };
    const where =
      `partition ${record.partition} of ANTARES topic "${topic}" at offset ${record.offset}`;
    return await locusItems(record.value, cursor, where, this.#api, signal);
  }
}
