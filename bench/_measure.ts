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
