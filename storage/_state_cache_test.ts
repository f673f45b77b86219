import assert from "node:assert/strict";
import type { SourceState } from "../tracking/reassociation_tracker.ts";
import { StateCache } from "./_state_cache.ts";

function state(id: bigint): SourceState {
  return {
    diaSourceId: id,
    diaObjectId: null,
    ssObjectId: null,
    reassocTime: null,
    firstSeenMjd: 61000,
    lastSeenMjd: 61000,
    lastAlertId: id,
    timesSeen: 1,
    runs: 1,
    firstRunId: 1,
    lastRunId: 1,
  };
}

Deno.test("StateCache keeps recent states, promotes what is used and drops the rest whole", () => {
  const cache = new StateCache(8);
  for (let i = 0n; i < 4n; i++) cache.set(i, state(i));
  cache.evict(); // 4 of a limit of 8: the young generation ages
  assert.equal(cache.size, 4);
  assert.equal(cache.get(1n)?.diaSourceId, 1n); // promoted to the young generation
  for (let i = 10n; i < 13n; i++) cache.set(i, state(i));
  cache.evict(); // young (1, 10, 11, 12) ages; the old generation (0, 2, 3) is dropped
  assert.equal(cache.has(0n), false);
  assert.equal(cache.has(2n), false);
  assert.equal(cache.get(1n)?.diaSourceId, 1n);
  assert.equal(cache.get(12n)?.diaSourceId, 12n);
  cache.evict(); // under half the limit: nothing moves
  assert.equal(cache.has(1n), true);
  cache.clear();
  assert.equal(cache.size, 0);
  assert.equal(cache.get(1n), undefined);
});
