/**
 * Shared by the benchmark cases: peak resident memory sampled while a case runs.
 *
 * @module
 */

/** Samples RSS every 50 ms until stopped; returns the peak in MB. */
export function samplePeakMemory(): { stop(): number } {
  let peak = Deno.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, Deno.memoryUsage().rss);
  }, 50);
  return {
    stop(): number {
      clearInterval(timer);
      peak = Math.max(peak, Deno.memoryUsage().rss);
      return Math.round(peak / 1e5) / 10;
    },
  };
}

/**
 * A file of /proc, through `cat`: Deno reads /proc only with every permission.
 *
 * @param path Its path.
 * @returns Its text, or `null` where it cannot be read (another kernel).
 */
export async function readProcFile(path: string): Promise<string | null> {
  try {
    const out = await new Deno.Command("cat", { args: [path], stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/**
 * The machine's load averages (1, 5 and 15 minutes), so a figure says how busy the machine was.
 *
 * @returns `"1m 5m 15m"`, or `"n/a"`.
 */
export async function loadAverage(): Promise<string> {
  const text = await readProcFile("/proc/loadavg");
  return text === null ? "n/a" : text.split(" ").slice(0, 3).join(" ");
}
