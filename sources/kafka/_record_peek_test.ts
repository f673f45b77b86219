import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
// kafkajs's own record encoder: the bytes a producer writes, made by code other than ours.
import encodeRecord from "npm:kafkajs@2.2.4/src/protocol/recordBatch/record/v0/index.js";
import { firstRecordValue } from "./_record_peek.ts";

interface RecordFields {
  key: Uint8Array | null;
  value: Uint8Array | null;
  timestampDelta?: number;
  offsetDelta?: number;
  headers?: Record<string, string>;
}

function records(...fields: RecordFields[]): Uint8Array {
  const parts = fields.map(({ key, value, ...rest }) =>
    (encodeRecord as (r: unknown) => { buffer: Buffer })({
      key: key === null ? null : Buffer.from(key),
      value: value === null ? null : Buffer.from(value),
      ...rest,
    }).buffer
  );
  return new Uint8Array(Buffer.concat(parts));
}

function framed(id: number, length: number): Uint8Array {
  const out = new Uint8Array(5 + length).map((_, i) => (i * 7) & 0xff);
  out[0] = 0;
  new DataView(out.buffer).setInt32(1, id);
  return out;
}

Deno.test("the first record's value is found whatever its key, deltas and headers", () => {
  const value = framed(1100, 300);
  const cases: RecordFields[] = [
    { key: null, value },
    { key: new Uint8Array(0), value },
    { key: new Uint8Array(200).fill(9), value, headers: { trace: "x".repeat(150) } },
    // A timestamp delta that needs a 64-bit varint, and offset deltas of every varint length.
    { key: null, value, timestampDelta: 2 ** 40 + 3, offsetDelta: 0 },
    { key: null, value, timestampDelta: -5, offsetDelta: 70 },
    { key: null, value, offsetDelta: 20_000 },
    { key: null, value, offsetDelta: 3_000_000 },
  ];
  for (const first of cases) {
    const second = { key: null, value: framed(1101, 10) };
    assert.deepEqual(firstRecordValue(records(first, second)), value);
  }
});

Deno.test("a value of 0 bytes, one of 200 KB, and a tombstone", () => {
  assert.deepEqual(
    firstRecordValue(records({ key: null, value: new Uint8Array(0) })),
    new Uint8Array(0),
  );
  const large = framed(901, 200_000);
  assert.deepEqual(firstRecordValue(records({ key: null, value: large })), large);
  // A tombstone has no value to name a schema.
  assert.equal(firstRecordValue(records({ key: new Uint8Array([1]), value: null })), null);
});

Deno.test("bytes cut anywhere inside the first record give null, never an error or a short value", () => {
  const whole = records({ key: new Uint8Array([1, 2, 3]), value: framed(1100, 40) });
  for (let end = 0; end < whole.length; end++) {
    assert.equal(
      firstRecordValue(whole.subarray(0, end)),
      null,
      `cut at ${end} of ${whole.length}`,
    );
  }
  assert.equal(firstRecordValue(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), null);
  // A record whose length is negative, or whose value runs past its own length.
  assert.equal(firstRecordValue(new Uint8Array([0x01, 0, 0, 0, 1, 2])), null);
  const lying = whole.slice();
  lying[0] = 10; // the record says it is 5 bytes long: its value cannot fit
  assert.equal(firstRecordValue(lying), null);
});
