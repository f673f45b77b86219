/**
 * Entry point of the Kafka message worker (see `_message_reader.ts`): runs the group consumer,
 * decodes what it fetches and sends it over in chunks, as far ahead as the consuming thread's
 * credit allows. Commits and closing are asked for by the consuming thread, which alone knows
 * what is stored.
 *
 * @module
 */

import {
  type ConsumeOptions,
  KafkaClient,
  type KafkaConnection,
  type KafkaStream,
  peekRecordBatches,
} from "./_kafka_client.ts";
import { FetchInterleave } from "./_fetch_interleave.ts";
import {
  decodeChunk,
  type MessageSchema,
  messageSchemaId,
  type PackedChunk,
  wantedSchemaIds,
} from "./_message_chunk.ts";
import type { MessageFormat } from "../../formats/_message_decoder.ts";
import { compileProjection } from "../../avro/avro_projection.ts";
import { LSST_ALERT_SELECTION } from "../../formats/lsst_packet.ts";
import { ZTF_ALERT_SELECTION } from "../../formats/ztf_packet.ts";
import { relaxZtfSchema } from "../../formats/ztf_schema.ts";
import type { StoredSchema } from "../../model/stored_schema.ts";
import { SourceError } from "../../model/errors.ts";

/** How far ahead the worker may be. */
export interface Credit {
  /** Messages. */
  messages: number;
  /** Their values' bytes. */
  bytes: number;
}

/** Messages the worker takes. */
export type MessageWorkerRequest =
  | {
    type: "consume";
    connection: KafkaConnection;
    consume: ConsumeOptions;
    format: MessageFormat;
    source: string;
    /** Messages, and their bytes, it may send ahead of what the consuming thread has taken. */
    credit: Credit;
    /** Most messages and bytes in one chunk. */
    chunkMessages: number;
    chunkBytes: number;
  }
  /** A schema asked for, or `null` when the consuming thread could not resolve it. */
  | { type: "schema"; id: number; schema: StoredSchema | null }
  | { type: "ack"; credit: Credit }
  | {
    type: "commit";
    id: number;
    positions: { topic: string; partition: number; offset: string }[];
  }
  | { type: "close" };

/** Messages the worker sends. */
export type MessageWorkerReply =
  | { type: "ready" }
  | { type: "started" }
  | { type: "chunk"; chunk: PackedChunk; credit: Credit }
  | { type: "schema?"; id: number }
  | { type: "committed"; id: number; ok: boolean }
  | { type: "error"; message: string; retriable: boolean }
  | { type: "closed" };

// The worker's global scope, typed here (the package may not change its users' globals).
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<MessageWorkerRequest>) => void) | null;
  postMessage(message: MessageWorkerReply, transfer?: Transferable[]): void;
};

let stream: Promise<KafkaStream | null> = Promise.resolve(null);
let closing = false;
let credit: Credit = { messages: 0, bytes: 0 };
// Schema ids asked of the consuming thread, and messages it may still be sent undecoded while
// their answers are on the way.
const asked = new Set<number>();
let undecoded = 0;
// A fetch holds one batch per partition; more than this many are not waited for.
const MAX_GATHERED = 64;
// Longest a partition's next fetch is waited for before what is held back is sent anyway: above
// the broker's wait for new messages (_kafka_client.ts), so that a fetch arriving is not missed.
const HOLD_MS = 1_000;
let commits: Promise<void> = Promise.resolve();
const schemas = new Map<number, MessageSchema | null>();
let wake: (() => void) | null = null;

scope.onmessage = (event: MessageEvent<MessageWorkerRequest>) => {
  const request = event.data;
  switch (request.type) {
    case "consume": {
      credit = { ...request.credit };
      // A batch's first message names its schema before kafkajs has parsed the fetch: the
      // consuming thread resolves it meanwhile (~70 ms for Rubin's, on the first fetch).
      peekRecordBatches((value) => {
        const id = messageSchemaId(value, request.format);
        if (id !== null) ask(id, request.chunkMessages);
      });
      const started = new KafkaClient(request.connection).consume(request.consume);
      // Closing waits for the consumer to start, then makes it leave the group.
      stream = started.catch(() => null);
      started.then((consumer) => consume(consumer, request)).catch((error) => fail(error));
      break;
    }
    case "schema":
      schemas.set(request.id, request.schema === null ? null : _compile(request.schema));
      break;
    case "ack":
      credit.messages += request.credit.messages;
      credit.bytes += request.credit.bytes;
      break;
    case "commit":
      commit(request.id, request.positions);
      break;
    case "close":
      close();
      break;
  }
  const woken = wake;
  wake = null;
  woken?.();
};

async function consume(
  consumer: KafkaStream,
  request: Extract<MessageWorkerRequest, { type: "consume" }>,
): Promise<void> {
  if (closing) return;
  scope.postMessage({ type: "started" });
  const queued = new FetchInterleave();
  for (;;) {
    // Messages held back wait for a behind partition's next fetch, but not for long: a
    // partition may be empty, revoked, or its next fetch fail.
    const wait = queued.held > 0 ? AbortSignal.timeout(HOLD_MS) : undefined;
    const first = await consumer.nextBatch(wait);
    if (first === null && !wait?.aborted) return;
    // kafkajs hands a fetch's partitions over one after another, without waiting for the
    // network: take them all, and send their messages interleaved (see FetchInterleave).
    const batches = first === null ? [] : [first];
    while (first !== null && batches.length < MAX_GATHERED) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      const more = consumer.takeOffered();
      if (more === null) break;
      batches.push(more);
    }
    for (const batch of batches) queued.add(batch);
    // Waited for long enough: a partition assigned but empty never sends a batch to say so.
    if (first === null) consumer.forgetBehind();
    for (
      const part of queued.chunks(request.chunkMessages, request.chunkBytes, consumer.behind())
    ) {
      // The consuming thread resolves schemas (database, folder, registry), so a schema id new
      // to the worker is asked for. Its answer can wait behind kafkajs decoding the next fetch
      // here, so one chunk goes undecoded meanwhile: the consuming thread, idle until its
      // first alerts, decodes it. Later chunks wait for the answer.
      const wanted = wantedSchemaIds(part, schemas, request.format);
      for (const id of wanted) ask(id, request.chunkMessages);
      const answered = () => wanted.every((id) => schemas.has(id));
      if (answered() || undecoded < part.length) {
        while (!closing && (credit.messages <= 0 || credit.bytes <= 0 || !answered())) {
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } else {
        undecoded -= part.length;
      }
      if (closing) return;
      const { chunk, transfer, bytes } = decodeChunk(
        part,
        schemas,
        request.format,
        request.source,
      );
      // Shared or copied, the bytes stay alive until the consuming thread has stored them.
      const taken = { messages: part.length, bytes };
      credit.messages -= taken.messages;
      credit.bytes -= taken.bytes;
      scope.postMessage({ type: "chunk", chunk, credit: taken }, transfer);
    }
  }
}

// Ask the consuming thread for a schema once; meanwhile a chunk of messages may go undecoded.
function ask(id: number, chunkMessages: number): void {
  if (asked.has(id) || schemas.has(id)) return;
  asked.add(id);
  undecoded += chunkMessages;
  scope.postMessage({ type: "schema?", id });
}

// One after the other, in the order asked: a later commit must not be overtaken by an earlier.
function commit(id: number, positions: { topic: string; partition: number; offset: string }[]) {
  commits = commits.then(async () => {
    const consumer = await stream;
    const ok = consumer === null ? false : await consumer.commit(positions).catch(() => false);
    scope.postMessage({ type: "committed", id, ok });
  });
}

// Commits asked for before closing land before the consumer leaves the group.
async function close(): Promise<void> {
  closing = true;
  await commits;
  await (await stream)?.close();
  scope.postMessage({ type: "closed" });
}

function fail(error: unknown): void {
  if (closing) return;
  scope.postMessage({
    type: "error",
    message: error instanceof Error ? error.message : String(error),
    retriable: error instanceof SourceError && error.retriable,
  });
}

// As `projectionOf` (formats/schema_resolver.ts) compiles it, with the survey and version the
// consuming thread found: that module would load avsc here, a fifth of the worker's start.
function _compile({ json, survey, version }: StoredSchema): MessageSchema | null {
  try {
    const selection = survey === "lsst"
      ? LSST_ALERT_SELECTION
      : survey === "ztf"
      ? ZTF_ALERT_SELECTION
      : true;
    return {
      project: compileProjection(relaxZtfSchema(JSON.parse(json)), selection),
      survey: survey === "lsst" || survey === "ztf" ? survey : null,
      version,
    };
  } catch {
    // The consuming thread compiled it already; if this copy fails, that thread decodes.
    return null;
  }
}

// Loaded: the reader waits for this before it sends work.
scope.postMessage({ type: "ready" });
