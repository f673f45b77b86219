import assert from "node:assert/strict";
import type { SourceState, StoredState } from "../tracking/reassociation_tracker.ts";
import { groupStateWrites } from "./_state_writes.ts";

function state(id: bigint, change: Partial<SourceState> = {}): SourceState {
  return {
    diaSourceId: id,
    diaObjectId: 7n,
    ssObjectId: null,
    reassocTime: null,
    firstSeenMjd: 61000,
    lastSeenMjd: 61001,
    lastAlertId: 99n,
    timesSeen: 1,
    runs: 1,
    firstRunId: 1,
    lastRunId: 2,
    ...change,
  };
}

function stored(s: SourceState, change: Partial<StoredState> = {}): StoredState {
  const { diaObjectId, ssObjectId, reassocTime, firstSeenMjd, runs } = s;
  return { diaObjectId, ssObjectId, reassocTime, firstSeenMjd, timesSeen: 1, runs, ...change };
}

Deno.test("new states sharing every column but the id form one insert group", () => {
  const a = [state(1n), state(2n), state(3n)];
  const b = state(4n, { lastAlertId: 100n, lastSeenMjd: 61002, firstSeenMjd: 61002 });
  const writes = groupStateWrites([...a, b, { ...b, diaSourceId: 5n }], new Map());
  assert.deepEqual(writes.inserts.map((g) => g.ids), [[1n, 2n, 3n], [4n, 5n]]);
  assert.equal(writes.inserts[1]!.head, b);
  assert.deepEqual(writes.bumps, []);
  assert.deepEqual(writes.rows, []);
});

Deno.test("known states that only moved forward are bumped; any other change is a row", () => {
  const seen = [state(1n, { timesSeen: 4 }), state(2n, { timesSeen: 2 })];
  const twice = state(3n, { timesSeen: 3 });
  const associated = state(4n, { ssObjectId: 5n, timesSeen: 2 });
  const late = state(5n, { firstSeenMjd: 60999, timesSeen: 2 });
  const learnt = state(6n, { diaObjectId: 8n, timesSeen: 2 });
  const previous = new Map<SourceState, StoredState>([
    [seen[0]!, stored(seen[0]!, { timesSeen: 3 })],
    [seen[1]!, stored(seen[1]!, { timesSeen: 1 })],
    [twice, stored(twice, { timesSeen: 1 })],
    [associated, stored(associated, { ssObjectId: null, timesSeen: 1 })],
    [late, stored(late, { firstSeenMjd: 61000, timesSeen: 1 })],
    [learnt, stored(learnt, { diaObjectId: null, timesSeen: 1 })],
  ]);
  const writes = groupStateWrites([...seen, twice, associated, late, learnt], previous);
  assert.deepEqual(
    writes.bumps.map(({ seen, ids, lastSeenMjd, lastAlertId, lastRunId }) => ({
      seen,
      ids,
      lastSeenMjd,
      lastAlertId,
      lastRunId,
    })),
    [
      { seen: 1, ids: [1n, 2n], lastSeenMjd: 61001, lastAlertId: 99n, lastRunId: 2 },
      { seen: 2, ids: [3n], lastSeenMjd: 61001, lastAlertId: 99n, lastRunId: 2 },
    ],
  );
  assert.deepEqual(writes.rows, [associated, late, learnt]);
  assert.deepEqual(writes.inserts, []);
});

Deno.test("groups stop at 5,000 ids", () => {
  const states = Array.from({ length: 12_001 }, (_, i) => state(BigInt(i)));
  const writes = groupStateWrites(states, new Map());
  assert.deepEqual(writes.inserts.map((g) => g.ids.length), [5000, 5000, 2001]);
});

Deno.test("groups smaller than minGroup are written as rows", () => {
  const small = [state(1n), state(2n)];
  const large = Array.from({ length: 4 }, (_, i) => state(10n + BigInt(i), { lastAlertId: 7n }));
  const writes = groupStateWrites([...small, ...large], new Map(), { minGroup: 3 });
  assert.deepEqual(writes.inserts.map((g) => g.ids), [[10n, 11n, 12n, 13n]]);
  assert.deepEqual(writes.rows, small);
});
