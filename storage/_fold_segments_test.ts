import assert from "node:assert/strict";
import { type BumpRow, foldSegments } from "./_fold_segments.ts";

const bump = (lo: bigint, hi: bigint, lastSeenMjd: number, lastAlertId: bigint): BumpRow => ({
  lo,
  hi,
  lastSeenMjd,
  lastAlertId,
  lastRunId: Number(lastAlertId % 10n),
});

Deno.test("foldSegments() gives each id the number of bumps covering it and the latest of them", () => {
  const bumps = [
    bump(10n, 50n, 61002, 22n),
    bump(30n, 80n, 61003, 33n),
    bump(40n, 45n, 61001, 11n), // late: older than the others that cover it
    bump(90n, 95n, 61002, 21n),
  ];
  const segments = foldSegments(bumps).map((s) => [s.lo, s.hi, s.seen, s.latest.lastAlertId]);
  assert.deepEqual(segments, [
    [10n, 29n, 1, 22n],
    [30n, 39n, 2, 33n],
    [40n, 45n, 3, 33n],
    [46n, 50n, 2, 33n],
    [51n, 80n, 1, 33n],
    [90n, 95n, 1, 21n], // 81-89: no bump
  ]);
  // Against a count id by id.
  for (let id = 0n; id < 100n; id++) {
    const covering = bumps.filter((b) => b.lo <= id && id <= b.hi);
    const segment = foldSegments(bumps).find((s) => s.lo <= id && id <= s.hi);
    assert.equal(segment?.seen ?? 0, covering.length, `id ${id}`);
  }
});

Deno.test("foldSegments() orders bumps of one time by alert id, and keeps ids past 2^53 exact", () => {
  const big = 9_007_199_254_740_993n;
  const [segment] = foldSegments([bump(big, big, 61000, 7n), bump(big, big, 61000, 8n)]);
  assert.deepEqual([segment?.lo, segment?.hi, segment?.seen, segment?.latest.lastAlertId], [
    big,
    big,
    2,
    8n,
  ]);
});
