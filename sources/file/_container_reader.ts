/**
 * Reading Avro containers in a Deno worker. SQLite writes are synchronous: while the main
 * thread stores a batch nothing else runs on it, so a container read there stops too. A worker
 * reads and decodes the file meanwhile (`_container_worker.ts`) and sends each block's records
 * as typed arrays and transferred bytes, up to a bounded number of bytes ahead; the main thread
 * only unpacks them. Events arrive in file order, so cursors and commits are unchanged.
 *
 * @module
 */

import { SourceError } from "../../model/errors.ts";
import { type PackedBlock, unpackBlock } from "./_block_transfer.ts";
import type { ContainerEvent, ContainerResume, DamagedEvent } from "./_container_events.ts";
import type { ContainerWorkerRequest } from "./_container_worker.ts";
import type { OcfLimits } from "../../avro/ocf_reader.ts";
import { startWorker } from "../_start_worker.ts";

/** The worker could not read on (I/O error, broken compression): like a read error in place. */
export class ContainerReadError extends Error {
  /** Offset in the (decompressed) file where reading failed. */
  readonly offset: number;

  /**
   * Create the error.
   *
   * @param message What failed.
   * @param offset Where.
   */
  constructor(message: string, offset: number) {
    super(message);
    this.name = "ContainerReadError";
    this.offset = offset;
  }
}

type _Reply =
  | { type: "ready" }
  | {
    type: "event";
    job: number;
    event:
      | DamagedEvent
      | (Omit<ContainerEvent & { kind: "block" }, "decoding"> & {
        packed: PackedBlock;
      });
  }
  | { type: "end"; job: number }
  | { type: "error"; job: number; message: string; offset: number };

const READY_TIMEOUT_MS = 30_000;

/** A worker that reads one container at a time; create with {@linkcode ContainerReader.start}. */
export class ContainerReader {
  /** Containers read through a worker in this process, so tests can tell the worker ran. */
  static reads = 0;
  #worker: Worker;
  #job = 0;
  #inbox: _Reply[] = [];
  #wake: (() => void) | null = null;
  #failure: string | null = null;
  #closed = false;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (event: MessageEvent<_Reply>) => {
      const reply = event.data;
      if (reply.type === "ready" || reply.job !== this.#job) return;
      this.#inbox.push(reply);
      this.#wake?.();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#failure = event.message;
      this.#wake?.();
    };
  }

  /**
   * Start the worker and wait until it has loaded. Where workers cannot run (a bundle without
   * the worker module, no permission), the caller reads on its own thread.
   *
   * @returns The reader, or `null` when the worker could not start.
   */
  static async start(): Promise<ContainerReader | null> {
    const worker = await startWorker(
      new URL("./_container_worker.ts", import.meta.url),
      READY_TIMEOUT_MS,
    );
    return worker === null ? null : new ContainerReader(worker);
  }

  /**
   * Read a container's blocks after its header (the caller has read and checked the header).
   *
   * @param path The file.
   * @param resume Where a resumed read starts, or `null`.
   * @param limits Block limits.
   * @param ahead Most block bytes, and most blocks, decoded ahead of the consumer.
   * @returns The events, in file order.
   * @throws {ContainerReadError} When reading fails part way.
   * @throws {SourceError} When the worker dies.
   */
  async *read(
    path: string,
    resume: ContainerResume | null,
    limits: OcfLimits | undefined,
    ahead: { bytes: number; blocks: number },
  ): AsyncGenerator<ContainerEvent, void, undefined> {
    const job = ++this.#job;
    ContainerReader.reads++;
    this.#inbox = [];
    this.#post({
      type: "read",
      job,
      path,
      resume,
      limits,
      credit: ahead.bytes,
      blocks: ahead.blocks,
    });
    let ended = false;
    try {
      for (;;) {
        while (this.#inbox.length === 0 && this.#failure === null) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = null;
        }
        if (this.#failure !== null) {
          throw new SourceError(`The container worker failed: ${this.#failure}`);
        }
        const reply = this.#inbox.shift() as Exclude<_Reply, { type: "ready" }>;
        if (reply.type === "end") {
          ended = true;
          return;
        }
        if (reply.type === "error") {
          ended = true;
          throw new ContainerReadError(reply.message, reply.offset);
        }
        const event = reply.event;
        if (event.kind === "damaged") {
          yield event;
          continue;
        }
        const { packed, ...block } = event;
        // Measured now: the consumer may release the bytes before asking for the next block.
        const bytes = Math.max(1, block.data.length);
        yield { ...block, decoding: unpackBlock(packed, block.data) };
        this.#post({ type: "ack", job, bytes });
      }
    } finally {
      if (!ended) this.#post({ type: "stop", job });
    }
  }

  /** Stop the worker. Safe to call twice. */
  close(): void {
    this.#closed = true;
    this.#worker.terminate();
    this.#failure ??= "closed";
    this.#wake?.();
  }

  #post(request: ContainerWorkerRequest): void {
    if (!this.#closed) this.#worker.postMessage(request);
  }
}
