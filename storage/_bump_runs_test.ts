import assert from "node:assert/strict";
import { bumpRuns } from "./_bump_runs.ts";

const BIG = 9_007_199_254_740_993n; // above 2^53: ids stay exact

Deno.test("bumpRuns() covers an alert's stored entries with one range when nothing lies among them", () => {
  const ids = [BIG, BIG + 5n, BIG + 9n];
  const plan = bumpRuns(ids, ids.map((id) => [id, 1] as const));
  assert.deepEqual(plan, { runs: [[BIG, BIG + 9n]], absent: [], left: [] });
});

Deno.test("bumpRuns() ends a range at a state the alert does not carry, one that does not move forward, and an entry not stored", () => {
  const plan = bumpRuns(
    [1n, 2n, 4n, 5n, 6n, 8n, 9n, 10n],
    [[1n, 1], [2n, 1], [3n, 1], [4n, 1], [5n, 0n], [6n, 1], [9n, 1], [10n, 1]],
  );
  // 3: another entry; 5: not moving forward; 8: not stored (inserted, so not covered).
  assert.deepEqual(plan.runs, [[1n, 2n], [4n, 4n], [6n, 6n], [9n, 10n]]);
  assert.deepEqual(plan.left, [5n]);
  assert.deepEqual(plan.absent, [8n]);
});

Deno.test("bumpRuns() leaves every entry absent when none is stored, and stored states beyond the entries change nothing", () => {
  assert.deepEqual(bumpRuns([4n, 6n], []), { runs: [], absent: [4n, 6n], left: [] });
  assert.deepEqual(bumpRuns([4n, 6n], [[6n, 1]]).runs, [[6n, 6n]]);
  assert.deepEqual(bumpRuns([4n, 6n], [[6n, 1]]).absent, [4n]);
});
