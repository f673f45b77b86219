import assert from "node:assert/strict";
import { observedIds, plainObservations } from "./_batch_plan.ts";
import { type SourceState, trackAlerts } from "./reassociation_tracker.ts";
import { attachHistoryColumns } from "../model/history_columns.ts";
import type { AlertRecord } from "../model/alert_record.ts";
import { makeAlert } from "../tests/_alert_factory.ts";

const SS = 4_000_000_000_000_000_001n;

// An alert whose history travels as columns, as the decode worker sends it.
function withColumns(alert: AlertRecord): AlertRecord {
  const h = alert.history;
  attachHistoryColumns(alert, {
    ids: BigInt64Array.from(h, (e) => e.diaSourceId),
    ssObjectIds: BigInt64Array.from(h, (e) => e.ssObjectId ?? 0n),
    midpoints: Float64Array.from(h, (e) => e.midpointMjdTai),
    reassocTimes: Float64Array.from(h, (e) => e.ssObjectReassocTimeMjdTai ?? 0),
    flags: Uint8Array.from(
      h,
      (e) => (e.ssObjectId === null ? 1 : 0) | (e.ssObjectReassocTimeMjdTai === null ? 2 : 0),
    ),
    start: 0,
    length: h.length,
  });
  return alert;
}

Deno.test("plainObservations() groups history entries by alert and association, once-seen and not held only", () => {
  for (const columns of [false, true]) {
    const a = makeAlert(100n, {
      history: [[1n, 0n], [2n, 0n], [3n, SS], [4n, 0n], [5n, SS, 61000.5], [6n, 0n]],
    });
    // 4 is in both histories; 6 is the other alert's own DIASource; 200 is a snapshot's.
    const b = makeAlert(6n, { history: [[4n, 0n], [7n, 0n], [8n, 0n], [200n, 0n]] });
    const snapshot = makeAlert(200n, { snapshot: true, history: [[9n, 0n]] });
    const records = [a, b, snapshot].map((r) => (columns ? withColumns(r) : r));
    const held = new Set([2n]);
    const groups = plainObservations(records, held);
    const shape = groups.map((
      g,
    ) => [g.alert.diaSourceId, g.ssObjectId, g.reassocTime, g.ids, g.entries]);
    assert.deepEqual(shape, [
      [100n, null, null, [1n], [0]],
      [100n, SS, null, [3n], [2]],
      [100n, SS, 61000.5, [5n], [4]],
      [6n, null, null, [7n, 8n], [1, 2]],
    ], columns ? "columns" : "objects");
    // Groups below the smallest size are left to tracking.
    assert.deepEqual(
      plainObservations(records, held, 2).map((g) => g.ids),
      [[7n, 8n]],
    );
  }
});

Deno.test("plainObservations() tells ids observed twice from ids alike in one 32-bit half", () => {
  // Neighbours when sorted, equal in one half: 2^32 + 1 and 1, −1 and 2^32 − 1, and the extremes.
  const ids = [
    1n,
    2n ** 32n + 1n,
    -1n,
    2n ** 32n - 1n,
    -(2n ** 63n),
    2n ** 63n - 1n,
    0n,
    -(2n ** 32n),
  ];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 50; round++) {
    const records: AlertRecord[] = [];
    for (let a = 0; a < 4; a++) {
      const own = 1000n + BigInt(round * 10 + a);
      const history: [bigint, bigint][] = [];
      for (let e = 0; e < 6; e++) {
        history.push([ids[Math.floor(next() * ids.length)] as bigint, 0n]);
      }
      const alert = makeAlert(own, { history });
      records.push(a % 2 === 0 ? withColumns(alert) : alert);
    }
    const count = new Map<bigint, number>();
    for (const r of records) {
      for (const id of [r.diaSourceId, ...r.history.map((e) => e.diaSourceId)]) {
        count.set(id, (count.get(id) ?? 0) + 1);
      }
    }
    const expected = records.flatMap((r) => r.history.map((e) => e.diaSourceId))
      .filter((id) => count.get(id) === 1);
    const got = plainObservations(records, new Set()).flatMap((g) => g.ids);
    assert.deepEqual(got, expected, `round ${round}`);
  }
  assert.throws(
    () => plainObservations([makeAlert(2n ** 63n, { history: [] })], new Set()),
    { name: "RangeError", message: `Id ${2n ** 63n} is not a 64-bit integer` },
  );
});

Deno.test("observedIds() leaves out the history entries a storage settled", () => {
  const a = withColumns(makeAlert(100n, { history: [[1n, 0n], [2n, 0n], [3n, 0n]] }));
  const b = makeAlert(101n, { history: [[4n, 0n], [5n, 0n]] });
  const settled = new Map([[a, Uint8Array.of(1, 0, 1)], [b, Uint8Array.of(0, 1)]]);
  assert.deepEqual(observedIds([a, b], settled), [100n, 2n, 101n, 4n]);
  assert.deepEqual(observedIds([a, b]), [100n, 1n, 2n, 3n, 101n, 4n, 5n]);
});

Deno.test("trackAlerts() neither reads nor reports the settled entries", () => {
  const a = withColumns(makeAlert(100n, { history: [[1n, 0n], [2n, SS], [3n, 0n]] }));
  const states = new Map<bigint, SourceState>();
  const result = trackAlerts([a], states, 1, { settled: new Map([[a, Uint8Array.of(1, 0, 1)]]) });
  assert.deepEqual(new Set(states.keys()), new Set([100n, 2n]));
  assert.deepEqual(result.changed.map((s) => s.diaSourceId), [100n, 2n]);
  assert.equal(result.newSources, 2);
});
