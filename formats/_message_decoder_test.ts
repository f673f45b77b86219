import assert from "node:assert/strict";
import { framedSchemaId } from "./_message_decoder.ts";

Deno.test("framedSchemaId reads bytes 1–4 as a signed big-endian 32-bit integer, as the Confluent wire format writes it", () => {
  const ids = [0, 1, 700, 1100, 1101, 0x7fffffff, -1, -0x80000000, 0x01020304, -123456789];
  for (const id of ids) {
    const bytes = new Uint8Array(9);
    new DataView(bytes.buffer).setInt32(1, id);
    assert.equal(framedSchemaId(bytes), id);
    // In shared memory and at an offset, as the Kafka worker's messages lie.
    const shared = new Uint8Array(new SharedArrayBuffer(16), 3, 9);
    shared.set(bytes);
    assert.equal(framedSchemaId(shared), id);
  }
  assert.throws(
    () => framedSchemaId(new Uint8Array([0, 0, 0, 4])),
    /shorter than its 5-byte header/,
  );
  assert.throws(() => framedSchemaId(new Uint8Array([1, 0, 0, 4, 76])), /not the magic byte 0/);
});
