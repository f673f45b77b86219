/**
 * What reading an Avro container after its header gives, block by block: a damaged region, or a
 * block decoded into alert records. The reading thread runs it when it decodes itself; a
 * container worker runs it on its own copy of the file and sends each event over.
 *
 * @module
 */

import { type BlockDecoding, decodeBlockRecords } from "./_block_decoder.ts";
import type { ByteStream } from "../../avro/byte_stream.ts";
import { type OcfHeader, type OcfLimits, readOcfBlocks } from "../../avro/ocf_reader.ts";
import type { ResolvedSchema } from "../../formats/schema_resolver.ts";

/** Where a resumed read starts: the stored block and the last record of it already stored. */
export interface ContainerResume {
  /** Offset of the block. */
  offset: number;
  /** Last record stored (`Infinity`: the whole block). */
  record: number;
}

/** A damaged region, to quarantine. */
export interface DamagedEvent {
  kind: "damaged";
  offset: number;
  error: string;
  raw: Uint8Array;
}

/** A decoded block. */
export interface BlockEvent {
  kind: "block";
  offset: number;
  count: number;
  /** Records up to this index were stored before (-1: none). */
  done: number;
  data: Uint8Array;
  decoding: BlockDecoding;
}

/** One step of reading a container. */
export type ContainerEvent = DamagedEvent | BlockEvent;

/**
 * Read and decode the blocks after the header, skipping what a resumed read has stored.
 *
 * @param stream The file, positioned after the header.
 * @param header Its header.
 * @param schema The writer schema.
 * @param limits Block limits.
 * @param resume Where a resumed read starts, or `null`.
 * @returns The events in file order; read errors are thrown.
 */
export async function* containerEvents(
  stream: ByteStream,
  header: OcfHeader,
  schema: Pick<ResolvedSchema, "project" | "survey" | "version">,
  limits: OcfLimits | undefined,
  resume: ContainerResume | null,
): AsyncGenerator<ContainerEvent, void, undefined> {
  if (resume !== null && resume.offset > stream.offset) {
    if (stream.seekable) await stream.seek(resume.offset);
    else await stream.skip(resume.offset - stream.offset);
  }
  for await (const block of readOcfBlocks(stream, header, limits)) {
    const done = resume !== null && block.offset === resume.offset ? resume.record : -1;
    if (resume !== null && block.offset < resume.offset) continue;
    if (block.kind === "damaged") {
      if (done === Infinity) continue;
      yield { kind: "damaged", offset: block.offset, error: block.error, raw: block.raw };
      continue;
    }
    const decoding = decodeBlockRecords(schema, block.data, block.count, done);
    yield {
      kind: "block",
      offset: block.offset,
      count: block.count,
      done,
      data: block.data,
      decoding,
    };
  }
}
