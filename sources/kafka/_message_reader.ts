/**
 * The Kafka consumer in a Deno worker. SQLite writes are synchronous: while the consuming thread
 * stores a batch nothing else runs on it, so fetching, decompressing and decoding messages there
 * stop too. The worker (`_message_worker.ts`) runs the group consumer and decodes its messages
 * meanwhile, up to a bounded number of messages and bytes ahead, and sends them in chunks (each
 * partition's messages in offset order); this thread resolves schemas, stores, and asks the
 * worker to commit what is stored. Offsets are committed only when asked, as on one thread.
 *
 * @module
 */

import { SourceError } from "../../model/errors.ts";
import type { StoredSchema } from "../../model/stored_schema.ts";
import type { MessageFormat } from "../../formats/_message_decoder.ts";
import type { ConsumeOptions, KafkaConnection } from "./_kafka_client.ts";
import { type ChunkMessage, unpackChunk } from "./_message_chunk.ts";
import type { Credit, MessageWorkerReply, MessageWorkerRequest } from "./_message_worker.ts";
import { startWorker } from "../_start_worker.ts";

/** Options of {@linkcode MessageReader.consume}. */
export interface MessageReaderOptions {
  /** The cluster. */
  connection: KafkaConnection;
  /** Group, topics, start position and stored cursors. */
  consume: ConsumeOptions;
  /** Message encoding. */
  format: MessageFormat;
  /** Source name for the alerts. */
  source: string;
  /**
   * Messages, and their bytes, decoded ahead of what this thread has taken: whichever runs out
   * first stops the worker.
   */
  ahead: Credit;
  /** Most messages in one chunk. */
  chunkMessages: number;
  /** Bytes after which a chunk ends. */
  chunkBytes: number;
  /**
   * A schema by registry id, resolved on this thread (it may read and write the database), or
   * `null` when it cannot be: the worker then leaves its messages to this thread.
   */
  resolveSchema: (id: number) => Promise<StoredSchema | null>;
}

/** Decoded messages and the credit they hold. */
export interface MessageChunk {
  /** The messages, each partition's in offset order. */
  messages: ChunkMessage[];
  /** What to give back with {@linkcode MessageReader.ack} once they are taken. */
  credit: Credit;
}

const READY_TIMEOUT_MS = 30_000;
// Leaving the group takes a round trip or two; a worker that does not answer is stopped anyway.
const CLOSE_TIMEOUT_MS = 10_000;

/** A worker running one consumer; create with {@linkcode MessageReader.start}. */
export class MessageReader {
  /** Chunks decoded by a worker in this process, so tests can tell the worker ran. */
  static chunks = 0;
  /** Workers started and not yet closed, so tests can tell none is left behind. */
  static running = 0;
  #worker: Worker;
  #options: MessageReaderOptions | null = null;
  #inbox: MessageWorkerReply[] = [];
  #wake: (() => void) | null = null;
  #failure: SourceError | null = null;
  #schemas = new Map<number, StoredSchema>();
  #commits = new Map<number, (ok: boolean) => void>();
  #commitId = 0;
  #closed: (() => void) | null = null;
  #closing: Promise<void> | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (event: MessageEvent<MessageWorkerReply>) => {
      const reply = event.data;
      if (reply.type === "committed") {
        this.#commits.get(reply.id)?.(reply.ok);
        this.#commits.delete(reply.id);
        return;
      }
      if (reply.type === "closed") {
        this.#closed?.();
        return;
      }
      this.#inbox.push(reply);
      this.#wake?.();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new SourceError(`The Kafka message worker failed: ${event.message}`));
    };
  }

  /**
   * Start the worker and wait until it has loaded. Where workers cannot run (a bundle without
   * the worker module, no permission), the caller consumes on its own thread.
   *
   * @returns The reader, or `null` when the worker could not start.
   */
  static async start(): Promise<MessageReader | null> {
    const worker = await startWorker(
      new URL("./_message_worker.ts", import.meta.url),
      READY_TIMEOUT_MS,
    );
    if (worker === null) return null;
    MessageReader.running++;
    return new MessageReader(worker);
  }

  /**
   * Join the group and start fetching.
   *
   * @param options What to consume and how far ahead.
   * @throws {SourceError} When the consumer cannot start (as {@linkcode KafkaClient.consume}).
   */
  async consume(options: MessageReaderOptions): Promise<void> {
    this.#options = options;
    this.#post({
      type: "consume",
      connection: options.connection,
      consume: options.consume,
      format: options.format,
      source: options.source,
      credit: options.ahead,
      chunkMessages: options.chunkMessages,
      chunkBytes: options.chunkBytes,
    });
    for (;;) {
      if (this.#failure !== null) throw this.#failure;
      const at = this.#inbox.findIndex((r) => r.type === "started" || r.type === "error");
      if (at >= 0) {
        const reply = this.#inbox.splice(at, 1)[0] as MessageWorkerReply;
        if (reply.type === "error") throw this.#replyError(reply);
        return;
      }
      await this.#arrival();
    }
  }

  /**
   * The next chunk of decoded messages, waiting for one; schemas the worker asks for meanwhile
   * are resolved here, in the order it meets them.
   *
   * @param signal Stops the wait.
   * @returns The chunk, or `null` when the signal aborted.
   * @throws {SourceError} When the consumer or the worker failed.
   */
  async next(signal?: AbortSignal): Promise<MessageChunk | null> {
    for (;;) {
      if (this.#failure !== null) throw this.#failure;
      if (signal?.aborted) return null;
      const reply = this.#inbox.shift();
      if (reply === undefined) {
        await this.#arrival(signal);
        continue;
      }
      if (reply.type === "error") throw this.#replyError(reply);
      if (reply.type === "schema?") {
        await this.#answer(reply.id);
      } else if (reply.type === "chunk") {
        MessageReader.chunks++;
        const messages = unpackChunk(reply.chunk, (id) => this.#schemas.get(id) as StoredSchema);
        return { messages, credit: reply.credit };
      }
    }
  }

  /**
   * Give a chunk's credit back, once its messages are taken: the worker decodes that much more.
   *
   * @param chunk The chunk.
   */
  ack(chunk: MessageChunk): void {
    this.#post({ type: "ack", credit: chunk.credit });
  }

  /**
   * Tell the worker a schema that this thread resolved while decoding a message itself.
   *
   * @param id The registry id.
   * @param schema Its stored form.
   */
  learn(id: number, schema: StoredSchema): void {
    if (this.#schemas.has(id)) return;
    this.#schemas.set(id, schema);
    this.#post({ type: "schema", id, schema });
  }

  /**
   * Commit the offsets after these stored positions (see {@linkcode KafkaStream.commit}).
   *
   * @param positions Last stored offset per topic and partition.
   * @returns Whether Kafka accepted the commit.
   */
  commit(
    positions: readonly { topic: string; partition: number; offset: string }[],
  ): Promise<boolean> {
    if (this.#closing !== null || this.#failure !== null) return Promise.resolve(false);
    const id = ++this.#commitId;
    return new Promise<boolean>((resolve) => {
      this.#commits.set(id, resolve);
      this.#post({ type: "commit", id, positions: [...positions] });
    });
  }

  /** Leave the group and stop the worker. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => (this.#closed = resolve));
      this.#post({ type: "close" });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)));
      await Promise.race([closed, late]);
      clearTimeout(timer);
      this.#worker.terminate();
      MessageReader.running--;
      for (const resolve of this.#commits.values()) resolve(false);
      this.#commits.clear();
      this.#fail(new SourceError("The Kafka message worker is closed"));
    })();
    return this.#closing;
  }

  // The worker waits for an answer to each schema it asks for.
  async #answer(id: number): Promise<void> {
    const schema = this.#schemas.get(id) ??
      await (this.#options as MessageReaderOptions).resolveSchema(id);
    if (schema !== null) this.#schemas.set(id, schema);
    this.#post({ type: "schema", id, schema });
  }

  #arrival(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        signal?.removeEventListener("abort", wake);
        this.#wake = null;
        resolve();
      };
      this.#wake = wake;
      signal?.addEventListener("abort", wake, { once: true });
    });
  }

  #replyError(reply: Extract<MessageWorkerReply, { type: "error" }>): SourceError {
    this.#failure = new SourceError(reply.message, { retriable: reply.retriable });
    return this.#failure;
  }

  #fail(error: SourceError): void {
    this.#failure ??= error;
    this.#wake?.();
  }

  #post(request: MessageWorkerRequest): void {
    if (this.#closing === null || request.type === "close") this.#worker.postMessage(request);
  }
}
