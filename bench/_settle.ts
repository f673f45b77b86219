/**
 * Before each benchmark case: the disk's backlog from the case before is written out and let
 * settle, so that no case is timed while another's writeback (300,000 cutout files, a deleted
 * gigabyte database) still holds the disk. Measured on 2026-12-03: the file cases started while
 * the mock ingest's cutouts were still being written back (I/O pressure 17–47%) and the file
 * ingest ran at 0.86× avsc's decode, against 1.11–1.29× in runs of the same code that day.
 *
 * @module
 */

/** How long the wait took and how busy the disk was. */
export interface Settled {
  /** Seconds spent in `sync` and waiting. */
  waited_s: number;
  /** Share of the last 10 s some task stalled on I/O (Linux PSI), in %, before and after. */
  io_pressure_before: number | null;
  io_pressure_after: number | null;
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

/** The pressure (%) below which the disk counts as settled: idle here reads 0–1%. */
export const SETTLED_PRESSURE = 3;
/** Longest wait: a disk that stays busy (another tenant) must not stop the benchmark. */
export const SETTLE_MAX_MS = 90_000;
const POLL_MS = 1_000;

/**
 * The "some" 10-second average of Linux's I/O pressure file.
 *
 * @param text The file's text.
 * @returns The percentage, or `null` when the text has none.
 */
export function ioPressure(text: string): number | null {
  const match = /^some .*\bavg10=(\d+(?:\.\d+)?)/m.exec(text);
  return match === null ? null : Number(match[1]);
}

/**
 * Sync, then wait until the I/O pressure is below {@linkcode SETTLED_PRESSURE} (at most
 * {@linkcode SETTLE_MAX_MS}; without a pressure file, the sync alone).
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
  let after = await read();
  while (
    after !== null && after >= SETTLED_PRESSURE && probe.now() - start < SETTLE_MAX_MS
  ) {
    await probe.sleep(POLL_MS);
    after = await read();
  }
  return {
    waited_s: Math.round((probe.now() - start) / 100) / 10,
    io_pressure_before: before,
    io_pressure_after: after,
  };
}

/** This machine, through commands: Deno reads /proc only with every permission, and has no sync(2). */
export const machineProbe: SettleProbe = {
  async readPressure() {
    try {
      const out = await new Deno.Command("cat", { args: ["/proc/pressure/io"], stderr: "null" })
        .output();
      return out.success ? new TextDecoder().decode(out.stdout) : null;
    } catch {
      return null;
    }
  },
  async sync() {
    const out = await new Deno.Command("sync").output().catch(() => null);
    return out?.success ?? false;
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => performance.now(),
};
