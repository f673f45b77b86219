/**
 * `lsst-extendedness db-stats`: rows per table, solar-system alerts, reassociations by reason,
 * MJD range and size.
 *
 * @module
 */

import type { DatabaseStats } from "../mod.ts";
import { type Command, COMMON } from "./_flags.ts";
import { formatCount, print } from "./_output.ts";
import { warnAboutData, withStorage } from "./_storage.ts";

/** The db-stats command. */
export const dbStatsCommand: Command = {
  options: COMMON,
  positionals: 0,
  run: (flags) =>
    withStorage(flags, async (storage) => {
      await storage.initialize();
      const stats = await storage.stats();
      print(flags, stats, () => _formatStats(stats));
      await warnAboutData(storage);
      return 0;
    }),
};

function _formatStats(stats: DatabaseStats): string {
  const lines = [`Database: ${stats.location}`];
  if (stats.sizeBytes !== null) lines.push(`Size: ${(stats.sizeBytes / 1e6).toFixed(2)} MB`);
  lines.push("Rows:");
  for (const [table, rows] of Object.entries(stats.rows)) {
    lines.push(`  ${table.padEnd(18)} ${formatCount(rows)}`);
  }
  lines.push(`Solar-system alerts: ${formatCount(stats.solarSystemAlerts)}`);
  lines.push(`Alerts with reassociations: ${formatCount(stats.reassociationAlerts)}`);
  lines.push("Reassociations by reason:");
  for (const [reason, n] of Object.entries(stats.reassociationsByReason)) {
    lines.push(`  ${reason.padEnd(20)} ${formatCount(n)}`);
  }
  lines.push(
    stats.mjdRange === null
      ? "MJD range: none"
      : `MJD range (TAI): ${stats.mjdRange.min.toFixed(5)} – ${stats.mjdRange.max.toFixed(5)}`,
  );
  return lines.join("\n");
}
