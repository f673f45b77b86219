/**
 * Entry point of a container worker (see `_container_reader.ts`): reads an Avro container
 * file on its own, decodes its blocks and sends each event over, as far ahead as the reading
 * thread's credit allows (in bytes and in blocks).
 *
 * @module
 */

import { packBlock } from "./_block_transfer.ts";
import { containerEvents, type ContainerResume } from "./_container_events.ts";
import { ByteStream } from "../../avro/byte_stream.ts";
import { type OcfLimits, readOcfHeader } from "../../avro/ocf_reader.ts";
import { projectionOf } from "../../formats/schema_resolver.ts";

/** Messages the worker takes. */
export type ContainerWorkerRequest =
  | {
    type: "read";
    job: number;
    path: string;
    resume: ContainerResume | null;
    limits: OcfLimits | undefined;
    /** Block bytes that may be sent ahead of the reading thread. */
    credit: number;
    /** Blocks that may be sent ahead of the reading thread. */
    blocks: number;
  }
  | { type: "ack"; job: number; bytes: number }
  | { type: "stop"; job: number };

// The worker's global scope, typed here (the package may not change its users' globals).
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<ContainerWorkerRequest>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};
let current = 0;
let credit = 0;
let blocks = 0;
let wake: (() => void) | null = null;

scope.onmessage = (event: MessageEvent<ContainerWorkerRequest>) => {
  const request = event.data;
  if (request.type === "read") {
    current = request.job;
    credit = request.credit;
    blocks = request.blocks;
    read(request).catch(() => {});
  } else if (request.job === current) {
    if (request.type === "ack") {
      credit += request.bytes;
      blocks++;
    } else current = 0;
    wake?.();
  }
};

async function read(
  request: Extract<ContainerWorkerRequest, { type: "read" }>,
): Promise<void> {
  const { job, path } = request;
  let stream: ByteStream | null = null;
  try {
    stream = await ByteStream.open(path);
    const header = await readOcfHeader(stream);
    // The reading thread resolved and checked this schema already.
    const schema = projectionOf(JSON.parse(header.schemaJson));
    for await (
      const event of containerEvents(stream, header, schema, request.limits, request.resume)
    ) {
      while ((credit <= 0 || blocks <= 0) && current === job) {
        await new Promise<void>((resolve) => (wake = resolve));
      }
      if (current !== job) return;
      if (event.kind === "damaged") {
        scope.postMessage({ type: "event", job, event });
        continue;
      }
      // Cutouts travel as offsets into the block, the same in a copy of it.
      const { message, transfer } = packBlock(event.decoding, event.data);
      const whole = event.data.byteOffset === 0 &&
        event.data.byteLength === event.data.buffer.byteLength;
      const data = whole ? event.data : event.data.slice();
      credit -= Math.max(1, data.length);
      blocks--;
      scope.postMessage(
        {
          type: "event",
          job,
          event: { ...event, data, decoding: undefined, packed: message },
        },
        [...transfer, data.buffer as ArrayBuffer],
      );
    }
    if (current === job) scope.postMessage({ type: "end", job });
  } catch (error) {
    if (current === job) {
      scope.postMessage({
        type: "error",
        job,
        message: error instanceof Error ? error.message : String(error),
        offset: stream?.offset ?? 0,
      });
    }
  } finally {
    stream?.close();
  }
}

// Loaded: the reader waits for this before it sends work.
scope.postMessage({ type: "ready" });
