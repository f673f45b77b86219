// deno-lint-ignore-file no-console
/**
 * What commands print: JSON for machines with --json, aligned text tables for people otherwise.
 *
 * @module
 */

import { type PartitionLag, stringifyExact } from "../mod.ts";
import type { Flags } from "./_flags.ts";

/**
 * Print a result on stdout: exact JSON (64-bit ids intact) with --json, else the text.
 *
 * @param flags The parsed flags.
 * @param value The result.
 * @param human Its text form, built only when it is printed.
 */
export function print(flags: Flags, value: unknown, human: () => string): void {
  console.log(flags.json ? stringifyExact(value, 2) : human());
}

/**
 * A count with thousands separators, the same whatever the user's locale.
 *
 * @param value The count.
 * @returns The text.
 */
export function formatCount(value: number): string {
  return value.toLocaleString("en-US");
}

/**
 * A text table with columns padded to their widest cell.
 *
 * @param header The column names.
 * @param rows The cells, one array per row.
 * @returns The lines, without trailing spaces.
 */
export function table(header: string[], rows: Array<Array<string | number | bigint>>): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]?.length ?? 0)));
  return cells.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd())
    .join("\n");
}

/**
 * A consumer group's committed offsets and lag, as kafka-lag and the end of a Kafka ingest show
 * them.
 *
 * @param lag One entry per partition.
 * @returns The table.
 */
export function formatLag(lag: PartitionLag[]): string {
  if (lag.length === 0) return "No committed offsets for this group";
  return table(
    ["topic", "partition", "committed", "end", "lag"],
    lag.map((l) => [l.topic, l.partition, l.committed ?? "-", l.end, l.lag]),
  );
}

/**
 * Write a file that appears only once it is complete: to a temporary name, renamed at the end
 * (a failed export never leaves half a file).
 *
 * @param out The file.
 * @param write Writes the rows to the stream it is given and returns how many.
 * @returns How many rows were written.
 */
export async function writeCompleteFile(
  out: string,
  write: (writable: WritableStream<Uint8Array>) => Promise<number>,
): Promise<number> {
  const temp = `${out}.part`;
  const file = await Deno.open(temp, { write: true, create: true, truncate: true });
  let written: number;
  try {
    written = await write(file.writable);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await Deno.rename(temp, out);
  return written;
}
