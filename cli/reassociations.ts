/**
 * `lsst-extendedness reassociations`: recent reassociation detections.
 *
 * @module
 */

import {
  REASSOCIATION_REASONS,
  type ReassociationReason,
  type ReassociationRecord,
  UsageError,
} from "../mod.ts";
import { type Command, COMMON, integer, text } from "./_flags.ts";
import { print, table } from "./_output.ts";
import { withStorage } from "./_storage.ts";

/** The reassociations command. */
export const reassociationsCommand: Command = {
  options: {
    ...COMMON,
    limit: { type: "string" },
    reason: { type: "string" },
    "run-id": { type: "string" },
  },
  positionals: 0,
  run: (flags) =>
    withStorage(flags, async (storage) => {
      await storage.initialize();
      const reason = _reason(text(flags, "reason"));
      const runId = flags["run-id"] === undefined ? undefined : integer(flags, "run-id", 0, 1);
      const rows = await storage.listReassociations({
        limit: integer(flags, "limit", 20, 1),
        ...(reason === undefined ? {} : { reason }),
        ...(runId === undefined ? {} : { runId }),
      });
      print(flags, rows, () => _formatReassociations(rows));
      return 0;
    }),
};

function _reason(value: string | undefined): ReassociationReason | undefined {
  if (value === undefined) return undefined;
  if (!REASSOCIATION_REASONS.includes(value as ReassociationReason)) {
    throw new UsageError(
      `Unknown reason "${value}": expected ${REASSOCIATION_REASONS.join(", ")}`,
    );
  }
  return value as ReassociationReason;
}

function _formatReassociations(rows: ReassociationRecord[]): string {
  if (rows.length === 0) return "No reassociations";
  return table(
    ["id", "dia_source_id", "reason", "old_ss_object_id", "new_ss_object_id", "alert", "run"],
    rows.map((r) => [
      r.id,
      r.diaSourceId,
      r.reason,
      r.oldSsObjectId ?? "-",
      r.newSsObjectId ?? "-",
      r.alertDiaSourceId ?? "snapshot",
      r.runId ?? "-",
    ]),
  );
}
