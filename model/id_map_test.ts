import assert from "node:assert/strict";
import { IdMap } from "./id_map.ts";

// Seeded, so a failure replays.
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("IdMap agrees with a Map on 200,000 ids across the whole 64-bit range", () => {
  const next = random(64);
  const ids: bigint[] = [-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, 1n, 2n ** 32n, -(2n ** 32n)];
  for (let i = 0; i < 200_000; i++) {
    const high = BigInt(Math.floor(next() * 2 ** 32)) << 32n;
    const id = BigInt.asIntN(64, high | BigInt(Math.floor(next() * 2 ** 32)));
    // Ids that differ in one half only, and neighbours, collide most in a weak hash.
    ids.push(id, id ^ (1n << 40n), id + 1n);
  }
  const map = new IdMap<number>(4);
  const reference = new Map<bigint, number>();
  ids.forEach((id, i) => {
    const clamped = BigInt.asIntN(64, id);
    map.set(clamped, i);
    reference.set(clamped, i);
  });
  assert.equal(map.size, reference.size);
  for (const [id, value] of reference) assert.equal(map.get(id), value);
  assert.equal(map.get(12345678901234567n), reference.get(12345678901234567n));
  assert.equal(map.has(-(2n ** 63n)), true);
  assert.equal([...map.values()].length, reference.size);
  map.clear();
  assert.equal(map.size, 0);
  assert.equal(map.get(0n), undefined);
});

Deno.test("IdMap refuses ids outside 64 bits instead of truncating them", () => {
  const map = new IdMap<string>();
  assert.throws(() => map.set(2n ** 63n, "x"), RangeError);
  assert.throws(() => map.set(-(2n ** 63n) - 1n, "x"), RangeError);
  assert.equal(map.size, 0);
  map.set(2n ** 64n - 2n ** 64n, "zero");
  assert.equal(map.get(0n), "zero");
});
