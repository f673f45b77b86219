import assert from "node:assert/strict";
import type { KafkaRecord } from "./_kafka_client.ts";
import { FetchInterleave } from "./_fetch_interleave.ts";

function batch(partition: number, from: number, count: number, size = 10): KafkaRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    topic: "t",
    partition,
    offset: String(from + i),
    value: new Uint8Array(size),
  }));
}

const names = (chunks: KafkaRecord[][]) =>
  chunks.map((chunk) => chunk.map((r) => `${r.partition}:${r.offset}`));
const none = new Set<string>();

Deno.test("FetchInterleave takes one message of each partition in turn, each in offset order", () => {
  const queued = new FetchInterleave();
  for (const b of [batch(0, 0, 4), batch(1, 100, 2), batch(2, 200, 3), batch(0, 4, 2)]) {
    queued.add(b);
  }
  assert.equal(queued.held, 11);
  assert.deepEqual(names([...queued.chunks(4, 1 << 20, none)]), [
    ["0:0", "1:100", "2:200", "0:1"],
    ["1:101", "2:201", "0:2", "2:202"],
    ["0:3", "0:4", "0:5"],
  ]);
  assert.equal(queued.held, 0);
  assert.deepEqual([...queued.chunks(4, 1 << 20, none)], []);
});

Deno.test("FetchInterleave ends a chunk at its bytes and loses or repeats nothing", () => {
  const queued = new FetchInterleave();
  const batches = [batch(0, 0, 7), batch(1, 100, 3), batch(2, 200, 5)];
  for (const b of batches) queued.add(b);
  const small = [...queued.chunks(100, 25, none)];
  assert.ok(small.every((chunk) => chunk.length <= 3));
  assert.deepEqual(names(small).flat().sort(), names(batches).flat().sort());
});

Deno.test("FetchInterleave holds a fetch back while a partition behind in Kafka has none queued", () => {
  const queued = new FetchInterleave();
  // First fetch: both partitions, partition 1 stopped short of its end after 2 messages.
  queued.add(batch(0, 0, 4));
  queued.add(batch(1, 0, 2));
  const isBehind = new Set(["t/1"]);
  // Partition 0 goes no further than partition 1.
  assert.deepEqual(names([...queued.chunks(3, 1 << 20, isBehind)]), [
    ["0:0", "1:0", "0:1"],
    ["1:1"],
  ]);
  assert.equal(queued.held, 2);
  // A fetch of partition 0 alone: later in time than partition 1's next messages, so held.
  queued.add(batch(0, 4, 2));
  assert.deepEqual([...queued.chunks(3, 1 << 20, isBehind)], []);
  assert.equal(queued.held, 4);
  // Partition 1's next fetch reaches its end: everything goes, in turn.
  queued.add(batch(1, 2, 2));
  isBehind.delete("t/1");
  assert.deepEqual(names([...queued.chunks(3, 1 << 20, isBehind)]), [
    ["0:2", "1:2", "0:3"],
    ["1:3", "0:4", "0:5"],
  ]);
  assert.equal(queued.held, 0);
});

Deno.test("FetchInterleave sends nothing before a partition behind that has sent nothing", () => {
  const queued = new FetchInterleave();
  queued.add(batch(0, 0, 3));
  assert.deepEqual([...queued.chunks(10, 1 << 20, new Set(["t/1"]))], []);
  assert.equal(queued.held, 3);
  queued.add(batch(1, 0, 3));
  assert.deepEqual(names([...queued.chunks(10, 1 << 20, new Set(["t/0", "t/1"]))]), [
    ["0:0", "1:0", "0:1", "1:1", "0:2", "1:2"],
  ]);
});

Deno.test("FetchInterleave sends what it holds when told no partition is behind", () => {
  const queued = new FetchInterleave();
  queued.add(batch(0, 0, 3));
  queued.add(batch(1, 0, 1));
  const isBehind = new Set(["t/1"]);
  assert.deepEqual(names([...queued.chunks(10, 1 << 20, isBehind)]), [["0:0", "1:0"]]);
  assert.equal(queued.held, 2);
  // The timeout's flush: the partition waited for never came.
  assert.deepEqual(names([...queued.chunks(10, 1 << 20, none)]), [["0:1", "0:2"]]);
  assert.equal(queued.held, 0);
});
