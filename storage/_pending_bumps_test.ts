import assert from "node:assert/strict";
import { PendingBumps } from "./_pending_bumps.ts";

Deno.test("PendingBumps keeps each DIAObject's span and count, and finds ids inside it", () => {
  const pending = new PendingBumps();
  assert.equal(pending.add(7n, 100n, 200n), 1);
  assert.equal(pending.add(7n, 50n, 120n), 2);
  assert.equal(pending.add(7n, 150n, 260n, 3), 5);
  assert.deepEqual(pending.get(7n), { lo: 50n, hi: 260n, count: 5 });
  assert.equal(pending.spans(7n, [10n, 49n]), false);
  assert.equal(pending.spans(7n, [10n, 50n]), true);
  assert.equal(pending.spans(7n, [260n]), true);
  assert.equal(pending.spans(8n, [100n]), false);
  pending.add(8n, 1n, 1n);
  assert.deepEqual([...pending.keys()], [7n, 8n]);
  pending.delete(7n);
  assert.equal(pending.size, 1);
  assert.equal(pending.get(7n), undefined);
});
