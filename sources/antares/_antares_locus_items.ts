/**
 * What one ANTARES locus message becomes: its LSST alerts (from the message or the HTTP API),
 * rejected parts, and the locus itself. Shared by the ANTARES source and quarantine replays, so
 * a replayed locus gives exactly what its first reading would have.
 *
 * @module
 */

import { AlertParseError } from "../../model/errors.ts";
import type { AlertRecord } from "../../model/alert_record.ts";
import type { SourcedAlert } from "../alert_source.ts";
import type { SourceCursor } from "../../model/source_cursor.ts";
import { type AntaresAlertResource, toAntaresAlertRecord } from "../../formats/antares_alert.ts";
import { type AntaresApi, AntaresApiError } from "./antares_api.ts";
import {
  type AntaresLocusMessage,
  decodeLocusMessage,
  toLocusRecord,
} from "../../formats/antares_locus.ts";

/**
 * Decode a locus message and fetch its alerts when it does not include them.
 *
 * @param value The message value.
 * @param cursor Its position (`topic/partition` and offset).
 * @param where Its position in words, for messages.
 * @param api The ANTARES HTTP API.
 * @param signal Aborts the fetch.
 * @returns The alerts sorted by time, rejected parts, and last the locus; only a rejected item
 * when the locus itself cannot be decoded or its alerts fetched; `null` when aborted.
 * @throws {Error} Whatever the API client throws other than an `AntaresApiError`.
 */
export async function locusItems(
  value: Uint8Array | null,
  cursor: SourceCursor,
  where: string,
  api: AntaresApi,
  signal?: AbortSignal,
): Promise<SourcedAlert[] | null> {
  const rejected = (message: string, cause: unknown): SourcedAlert[] => [{
    kind: "rejected",
    error: new AlertParseError(message, {
      stream: cursor.stream,
      position: cursor.position,
      cause,
    }),
    raw: value,
    cursor,
  }];

  let locus: AntaresLocusMessage;
  try {
    if (value === null) throw new TypeError("The message has no value");
    locus = decodeLocusMessage(value);
  } catch (error) {
    return rejected(`Cannot decode the locus in ${where}: ${(error as Error).message}`, error);
  }

  let resources: AntaresAlertResource[] = locus.included;
  if (resources.length === 0) {
    try {
      resources = await api.locusAlerts(locus.locusId, signal);
    } catch (error) {
      if (signal?.aborted) return null;
      if (!(error instanceof AntaresApiError)) throw error;
      // The locus is kept with its message bytes: a replay can fetch its alerts later.
      return rejected(
        `Cannot fetch the alerts of locus "${locus.locusId}" in ${where}: ${error.message}`,
        error,
      );
    }
  }

  const items: SourcedAlert[] = [];
  const alerts: AlertRecord[] = [];
  for (const resource of resources) {
    try {
      const alert = toAntaresAlertRecord(resource);
      if (alert !== null) alerts.push(alert);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      items.push({
        kind: "rejected",
        error: new AlertParseError(
          `Cannot map alert "${resource.id}" of locus "${locus.locusId}" in ${where}: ${error.message}`,
          { stream: cursor.stream, position: cursor.position, cause: error },
        ),
        raw: new TextEncoder().encode(JSON.stringify({ id: resource.id, mjd: resource.mjd })),
        cursor: { ...cursor, more: true },
      });
    }
  }
  // Time order, so the tracker sees a DIASource's snapshots as they happened.
  alerts.sort((a, b) => a.midpointMjdTai - b.midpointMjdTai);
  for (const alert of alerts) {
    items.push({ kind: "alert", alert, cursor: { ...cursor, more: true } });
  }
  const newest = alerts.at(-1);
  const newestAlertId = typeof locus.properties.newest_alert_id === "string"
    ? locus.properties.newest_alert_id
    : newest === undefined
    ? null
    : `lsst:${newest.diaSourceId}`;
  items.push({ kind: "locus", locus: toLocusRecord(locus, newestAlertId), cursor });
  return items;
}
