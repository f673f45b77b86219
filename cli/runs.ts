/**
 * `lsst-extendedness runs`: recent ingestion runs.
 *
 * @module
 */

import type { IngestionRunRecord } from "../mod.ts";
import { type Command, COMMON, integer } from "./_flags.ts";
import { print, table } from "./_output.ts";
import { withStorage } from "./_storage.ts";

/** The runs command. */
export const runsCommand: Command = {
  options: { ...COMMON, limit: { type: "string" } },
  positionals: 0,
  run: (flags) =>
    withStorage(flags, async (storage) => {
      await storage.initialize();
      const runs = await storage.listRuns(integer(flags, "limit", 10, 1));
      print(flags, runs, () => _formatRuns(runs));
      return 0;
    }),
};

function _formatRuns(runs: IngestionRunRecord[]): string {
  if (runs.length === 0) return "No runs";
  return table(
    [
      "run",
      "source",
      "status",
      "started_at",
      "alerts",
      "skipped",
      "new_sources",
      "reassoc",
      "quarantined",
    ],
    runs.map((r) => [
      r.runId,
      r.source,
      r.status,
      r.startedAt,
      r.alertsIngested,
      r.alertsSkipped,
      r.newSources,
      r.reassociationsDetected,
      r.alertsQuarantined,
    ]),
  );
}
