import assert from "node:assert/strict";
import {
  classifyObservation,
  replayObservations,
  type SourceState,
  trackAlerts,
} from "./reassociation_tracker.ts";
import { makeAlert } from "../tests/_alert_factory.ts";

const A = 9_007_199_254_740_993n; // 2^53 + 1: would round as a number
const B = 170_587_117_485_817_955n;
const D = 313_328_185_213_960_193n;

Deno.test("classifyObservation() applies the four rules and nothing else", () => {
  const cases: Array<[bigint | null, number | null, bigint | null, number | null, string | null]> =
    [
      [null, null, null, null, null],
      [null, null, A, null, "new_association"],
      [A, null, B, null, "changed_association"],
      [A, null, null, null, "association_removed"],
      [A, null, A, null, null],
      [A, 61000.5, A, 61002.25, "updated_timestamp"],
      [A, 61000.5, A, 61000.5, null],
      // A source that carries no time must not look like it cleared or set one.
      [A, 61000.5, A, null, null],
      [A, null, A, 61000.5, null],
      [null, 61000.5, null, 61001.5, null],
      [A, 61000.5, B, 61000.5, "changed_association"],
    ];
  for (const [oldSs, oldTime, newSs, newTime, expected] of cases) {
    assert.equal(
      classifyObservation(
        { ssObjectId: oldSs, reassocTime: oldTime },
        { ssObjectId: newSs, reassocTime: newTime },
      ),
      expected,
      `${oldSs}@${oldTime} -> ${newSs}@${newTime}`,
    );
  }
});

Deno.test("trackAlerts() never reports a first sighting, even of an associated DIASource", () => {
  const states = new Map<bigint, SourceState>();
  const alert = makeAlert(D, { ssObjectId: A, history: [[B, A]] });
  const result = trackAlerts([alert], states, 1);
  assert.equal(result.detections.length, 0);
  assert.equal(result.newSources, 2);
  assert.equal(alert.isReassociation, false);
  assert.equal(states.get(D)?.ssObjectId, A);
  assert.equal(states.get(B)?.timesSeen, 1);
});

Deno.test("trackAlerts() detects new, changed and removed associations through histories", () => {
  const states = new Map<bigint, SourceState>();
  const first = makeAlert(D, { midpointMjdTai: 61000.1 });
  const linked = makeAlert(D + 1n, { midpointMjdTai: 61001.1, history: [[D, A]] });
  const changed = makeAlert(D + 2n, { midpointMjdTai: 61002.1, history: [[D, B], [D + 1n, 0n]] });
  const removed = makeAlert(D + 3n, { midpointMjdTai: 61003.1, history: [[D, 0n], [D + 1n, 0n]] });
  const result = trackAlerts([first, linked, changed, removed], states, 7);

  assert.deepEqual(
    result.detections.map((
      d,
    ) => [d.diaSourceId, d.reason, d.oldSsObjectId, d.newSsObjectId, d.alertDiaSourceId]),
    [
      [D, "new_association", null, A, D + 1n],
      [D, "changed_association", A, B, D + 2n],
      [D, "association_removed", B, null, D + 3n],
    ],
  );
  assert.equal(linked.isReassociation, true);
  assert.equal(linked.reassociationReason, "new_association");
  assert.equal(first.isReassociation, false);
  const state = states.get(D);
  assert.equal(state?.timesSeen, 4);
  assert.equal(state?.firstSeenMjd, 61000.1);
  assert.equal(state?.lastSeenMjd, 61003.1);
  assert.equal(state?.ssObjectId, null);
  assert.equal(state?.lastRunId, 7);
});

Deno.test("trackAlerts() detects an updated reassociation time and carries a known time forward", () => {
  const states = new Map<bigint, SourceState>();
  const alerts = [
    makeAlert(D, { midpointMjdTai: 61000.1, ssObjectId: A, ssObjectReassocTimeMjdTai: 61000.0 }),
    makeAlert(D + 1n, { midpointMjdTai: 61001.1, history: [[D, A]] }),
    makeAlert(D + 2n, { midpointMjdTai: 61002.1, history: [[D, A, 61001.5]] }),
  ];
  const result = trackAlerts(alerts, states, 1);
  assert.equal(result.detections.length, 1);
  const [detection] = result.detections;
  assert.equal(detection?.reason, "updated_timestamp");
  assert.equal(detection?.oldReassocTime, 61000.0);
  assert.equal(detection?.newReassocTime, 61001.5);
  assert.equal(detection?.alertDiaSourceId, D + 2n);
  assert.equal(states.get(D)?.reassocTime, 61001.5);
});

Deno.test("trackAlerts() counts a late observation and asks for a replay only when it may matter", () => {
  const states = new Map<bigint, SourceState>();
  trackAlerts([makeAlert(D + 5n, { midpointMjdTai: 61005.1, history: [[D, A]] })], states, 1);
  // Late and agreeing with the only segment: counted, nothing to replay.
  const agreeing = trackAlerts(
    [makeAlert(D + 1n, { midpointMjdTai: 61001.1, history: [[D, A]] })],
    states,
    2,
  );
  assert.deepEqual([...agreeing.replay], []);
  // Late and different: the sequence may change, so D is replayed from storage.
  const late = makeAlert(D + 2n, { midpointMjdTai: 61002.1, history: [[D, 0n]] });
  const result = trackAlerts([late], states, 3);
  assert.deepEqual([...result.replay], [D]);
  assert.equal(result.detections.length, 0);
  const state = states.get(D);
  assert.equal(state?.ssObjectId, A, "the association waits for the replay");
  assert.equal(state?.timesSeen, 3);
  assert.equal(state?.firstSeenMjd, 61001.1);
  assert.equal(state?.lastSeenMjd, 61005.1);
  assert.equal(state?.lastAlertId, D + 5n);
});

Deno.test("replayObservations() finds what the in-order fold finds, with reassociation times", () => {
  const o = (time: number, ss: bigint | null, rt: number | null) => ({
    diaSourceId: D,
    time,
    alertId: BigInt(time),
    ssObjectId: ss,
    reassocTime: rt,
  });
  const result = replayObservations([
    o(1, null, null),
    o(2, A, 10),
    o(3, A, null),
    o(4, A, 12),
    o(5, B, null),
    o(6, null, null),
  ]);
  assert.deepEqual(result.detections.map((d) => [d.reason, d.alertDiaSourceId]), [
    ["new_association", 2n],
    ["updated_timestamp", 4n],
    ["changed_association", 5n],
    ["association_removed", 6n],
  ]);
  assert.equal(result.runs, 5);
  assert.equal(result.ssObjectId, null);
});

Deno.test("trackAlerts() reports only the states it touched, once each", () => {
  const states = new Map<bigint, SourceState>();
  trackAlerts([makeAlert(A), makeAlert(B)], states, 1);
  const result = trackAlerts(
    [makeAlert(D, { history: [[A, 0n]] }), makeAlert(D + 1n, { history: [[A, 0n]] })],
    states,
    2,
  );
  assert.deepEqual(result.changed.map((s) => s.diaSourceId), [D, A, D + 1n]);
  assert.equal(result.newSources, 2);
  assert.equal(states.get(A)?.timesSeen, 3);
});
