/**
 * A seeded stream of heavy-history alerts for checking that a storage's set-based writes of
 * plain observations leave the same rows as tracking each observation in memory: DIAObjects
 * re-observed visit after visit, with first sightings among known DIASources in one history,
 * associations and reassociation times (grouped and changing), alerts delivered late and two of
 * one DIAObject in a batch, and a DIASource first seen without a DIAObject. Used by the SQLite
 * and PostgreSQL storages' tests.
 *
 * @module
 */

import type { AlertRecord } from "../model/alert_record.ts";
import { type HistorySpec, makeAlert } from "./_alert_factory.ts";

/** The largest signed 64-bit id. */
const SS = 9_223_372_036_854_775_807n;
const OBJECTS = 6;
/** The first DIASource id of the stream's pools. */
export const PLAIN_STREAM_BASE = 170_000_000_000_000_000n;

/**
 * The stream.
 *
 * @returns Its alerts, and the batches to write them in (indexes into `alerts`, in delivery
 * order, 1–7 alerts each).
 */
export function plainStream(): { alerts: AlertRecord[]; batches: number[][] } {
  let seed = 11;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const base = PLAIN_STREAM_BASE;
  const pools = Array.from(
    { length: OBJECTS },
    (_, o) => Array.from({ length: 60 }, (_, k) => base + BigInt(o) * 1_000_000n + BigInt(k)),
  );
  const alerts: AlertRecord[] = [];
  for (let visit = 0; visit < 8; visit++) {
    for (let o = 0; o < OBJECTS; o++) {
      const id = base + 900_000_000n + BigInt(visit * OBJECTS + o);
      const seen = pools[o]!.slice(0, 20 + visit * 5);
      const history = seen.map((h, k): HistorySpec => {
        // Object 1's entries carry an SSObject, object 2's a reassociation time that moves;
        // a few entries of object 3 change association at visit 5.
        if (o === 1) return [h, SS];
        if (o === 2) return [h, SS, 61000.25 + (visit >= 4 ? 1 : 0)];
        if (o === 3 && k % 7 === 0 && visit >= 5) return [h, SS - 1n];
        return [h, 0n];
      });
      // DIASources first seen in an alert without a DIAObject, later in object 4's history.
      const diaObjectId = o === 5 && visit < 2 ? null : 5_000_000n + BigInt(o);
      if (o === 4 && visit >= 3) history.push([base + 5_000_000n, 0n], [base + 5_000_001n, 0n]);
      const extra: HistorySpec[] = o === 5 && visit < 2
        ? [[base + 5_000_000n, 0n], [base + 5_000_001n, 0n]]
        : [];
      alerts.push(makeAlert(id, {
        diaObjectId,
        midpointMjdTai: 61000 + visit + (o % 2) * 0.5,
        history: [...history, ...extra],
      }));
    }
  }
  // Some alerts late: moved a few places back.
  const order = alerts.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    if (random() < 0.25) {
      const j = Math.max(0, i - 1 - Math.floor(random() * 8));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
  }
  const batches: number[][] = [];
  for (let at = 0; at < order.length;) {
    const size = 1 + Math.floor(random() * 7);
    batches.push(order.slice(at, at + size));
    at += size;
  }
  return { alerts, batches };
}
