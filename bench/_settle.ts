/**
 * Before each benchmark case: the disk's backlog from the case before is written out and let
 * settle, so that no case is timed while another's writeback (300,000 cutout files, a deleted
 * gigabyte database) still holds the disk. Measured on 2026-12-03: the file cases started while
 * the mock ingest's cutouts were still being written back (I/O pressure 17–47%) and the file
 * ingest ran at 0.86× avsc's decode, against 1.11–1.29× in runs of the same code that day.
 *
 * @module
 */

import { readProcFile } from "./_measure.ts";

/** How long the wait took and how busy the disk was. */
export interface Settled {
  /** Seconds spent in `sync` and waiting. */
  waited_s: number;
  /** Share of the 10 s before the wait some task stalled on I/O (Linux PSI), in %. */
  io_pressure_before: number | null;
  /** The same over the wait's last second, when the case started. */
  io_stalled_last_s: number | null;
}

/** What the wait needs of the machine, replaceable in tests. */
export interface SettleProbe {
  /** `/proc/pressure/io`'s text, or `null` where the kernel has none. */
  readPressure(): Promise<string | null>;
  /** Write every dirty page out; `false` when it could not. */
  sync(): Promise<boolean>;
  sleep(ms: number): Promise<void>;
  now(): number;
}

/** Stalled share (%) of a second below which the disk counts as settled: idle here reads 0–1%. */
export const SETTLED_PRESSURE = 3;
/** Longest wait: a disk that stays busy (another tenant) must not stop the benchmark. */
export const SETTLE_MAX_MS = 90_000;
/**
 * Each look at the disk: the kernel's own averages lag (10 s at best) behind a disk gone quiet,
 * so its stall counter is read a second apart.
 */
export const SETTLE_STEP_MS = 1_000;

/** The "some" line of Linux's I/O pressure file. */
export interface IoPressure {
  /** Share of the last 10 s some task stalled on I/O, in %. */
  avg10: number;
  /** Time some task stalled on I/O since boot, in µs. */
  totalUs: number;
}

/**
 * Read the "some" line of Linux's I/O pressure file.
 *
 * @param text The file's text.
 * @returns Its 10-second average and total, or `null` when the text has none.
 */
export function ioPressure(text: string): IoPressure | null {
  const match = /^some .*\bavg10=(\d+(?:\.\d+)?)\b.*\btotal=(\d+)/m.exec(text);
  return match === null ? null : { avg10: Number(match[1]), totalUs: Number(match[2]) };
}

/**
 * Sync, then wait until some task stalled on I/O less than {@linkcode SETTLED_PRESSURE}% of a
 * second (at most {@linkcode SETTLE_MAX_MS}; without a pressure file, the sync alone).
 *
 * @param probe The machine (default: this one's).
 * @returns What the wait took.
 */
export async function settleDisk(probe: SettleProbe = machineProbe): Promise<Settled> {
  const start = probe.now();
  const read = async () => {
    const text = await probe.readPressure();
    return text === null ? null : ioPressure(text);
  };
  const before = await read();
  await probe.sync();
  let stalled: number | null = null;
  let last = await read();
  let at = probe.now();
  while (last !== null) {
    await probe.sleep(SETTLE_STEP_MS);
    const next = await read();
    const now = probe.now();
    if (next === null) break;
    // µs stalled per ms elapsed is the share in ‰: to % with one decimal.
    stalled = Math.round((next.totalUs - last.totalUs) / (now - at)) / 10;
    if (stalled < SETTLED_PRESSURE || now - start >= SETTLE_MAX_MS) break;
    last = next;
    at = now;
  }
  return {
    waited_s: Math.round((probe.now() - start) / 100) / 10,
    io_pressure_before: before?.avg10 ?? null,
    io_stalled_last_s: stalled,
  };
}

/** This machine, through commands: Deno reads /proc only with every permission, and has no sync(2). */
export const machineProbe: SettleProbe = {
  readPressure: () => readProcFile("/proc/pressure/io"),
  async sync() {
    const out = await new Deno.Command("sync").output().catch(() => null);
    return out?.success ?? false;
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => performance.now(),
};
