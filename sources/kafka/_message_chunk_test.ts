import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createAvroType } from "../../avro/avro_schema.ts";
import { encodeOcf } from "../../avro/ocf_writer.ts";
import { decodeFramed, messageFormat } from "../../formats/_message_decoder.ts";
import { SchemaResolver } from "../../formats/schema_resolver.ts";
import type { StoredSchema } from "../../model/stored_schema.ts";
import type { KafkaRecord } from "./_kafka_client.ts";
import { decodeChunk, type MessageSchema, unpackChunk, wantedSchemaIds } from "./_message_chunk.ts";
import { minimalLsstSchema } from "../../tests/_minimal_schema.ts";

const SCHEMA = minimalLsstSchema({ cutout: true });
const ID = 9900;
const TYPE = createAvroType(SCHEMA);
const BASE = 170_587_117_485_817_955n;

function source(id: bigint, midpoint: number, ssObjectId = 0n): Record<string, unknown> {
  return { diaSourceId: id, diaObjectId: 77n, ssObjectId, midpointMjdTai: midpoint, ra: 1, dec: 2 };
}

function framed(i: number, schemaId = ID): Uint8Array {
  const id = BASE + BigInt(i);
  const history = Array.from(
    { length: i % 4 },
    (_, h) => source(id - 10n - BigInt(h), 60000 + h, BigInt(h)),
  );
  const body = TYPE.toBuffer({
    diaSourceId: id,
    diaSource: source(id, 61000 + i),
    prvDiaSources: history.length === 0 ? null : history,
    cutoutDifference: i % 2 === 0 ? null : Buffer.from([i, 1, 2, 3]),
  });
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setInt32(1, schemaId);
  out.set(body, 5);
  return out;
}

function record(value: Uint8Array | null, offset: number, partition = 0): KafkaRecord {
  return { topic: "t", partition, offset: String(offset), value };
}

/** What the consuming thread decodes on its own (KafkaSource's own path): the reference. */
async function expected(value: Uint8Array, resolver: SchemaResolver) {
  try {
    messageFormat(value, "auto");
    return await decodeFramed(value, resolver, "kafka");
  } catch (error) {
    return error as Error;
  }
}

async function compiled(): Promise<
  { schemas: Map<number, MessageSchema>; stored: StoredSchema; resolver: SchemaResolver }
> {
  const json = JSON.stringify(SCHEMA);
  const schema = await new SchemaResolver().fromJson(json);
  const stored = {
    fingerprint: schema.fingerprint,
    id: ID,
    version: schema.version,
    survey: schema.survey,
    json,
  };
  const resolver = new SchemaResolver({
    store: {
      schemaById: (id: number) => Promise.resolve(id === ID ? stored : null),
      saveSchema: () => Promise.resolve(),
    },
  });
  return { schemas: new Map([[ID, schema]]), stored, resolver };
}

Deno.test("decodeChunk() and unpackChunk() give the alerts, payloads and errors decodeFramed() gives", async () => {
  const { schemas, stored, resolver } = await compiled();
  const good = Array.from({ length: 9 }, (_, i) => framed(i));
  const truncated = framed(3).subarray(0, 20);
  const garbage = new Uint8Array([0x7b, 1, 2, 3, 4, 5]);
  const trailing = new Uint8Array([...framed(5), 0]);
  const values = [...good.slice(0, 4), truncated, garbage, trailing, ...good.slice(4)];
  const records = values.map((value, i) => record(value, 100 + i));
  const { chunk, transfer } = decodeChunk(records, schemas, "auto", "kafka");
  assert.ok(transfer.includes(chunk.data.buffer as ArrayBuffer));
  // Across threads the chunk is cloned: do the same here.
  const messages = unpackChunk(structuredClone(chunk, { transfer }), () => stored);

  assert.equal(messages.length, values.length);
  for (const [i, { record: got, decoded }] of messages.entries()) {
    assert.deepEqual(got, records[i], `record ${i}`);
    const reference = await expected(values[i]!, resolver);
    if (reference instanceof Error) {
      assert.ok(decoded instanceof Error, `message ${i} is rejected`);
      assert.equal(decoded.message, reference.message);
      assert.equal(decoded.name, reference.name);
    } else {
      assert.ok(decoded !== null && !(decoded instanceof Error), `message ${i} is decoded`);
      assert.deepEqual(decoded.alert, reference.alert);
      assert.deepEqual(decoded.alert.history, reference.alert.history);
      assert.deepEqual(decoded.raw, reference.raw);
    }
  }
  // Cutouts and payloads are views into the bytes that travelled, not copies.
  const odd = messages[1]!.decoded as { alert: { cutoutDifference: Uint8Array | null } };
  assert.equal(odd.alert.cutoutDifference?.buffer, messages[1]!.record.value?.buffer);
});

Deno.test("decodeChunk() shares messages in shared memory instead of copying them", async () => {
  const { schemas, stored, resolver } = await compiled();
  const values = Array.from({ length: 6 }, (_, i) => framed(i));
  // Messages 0-3 in two shared buffers (as decompressed snappy batches are), 4-5 in plain ones.
  const sharedIn = (parts: Uint8Array[]) => {
    const buffer = new SharedArrayBuffer(parts.reduce((n, p) => n + p.length, 3));
    let at = 3;
    return parts.map((part) => {
      const view = Buffer.from(buffer, at, part.length);
      view.set(part);
      at += part.length;
      return view;
    });
  };
  const placed = [
    ...sharedIn(values.slice(0, 3)),
    ...sharedIn(values.slice(3, 4)),
    ...values.slice(4),
  ];
  const records = placed.map((value, i) => record(value, i));
  const { chunk, transfer, bytes } = decodeChunk(records, schemas, "auto", "kafka");
  assert.equal(chunk.shared.length, 2);
  assert.deepEqual(chunk.buffers, [0, 0, 0, 1, -1, -1]);
  // Only the plain messages are copied; credit counts every message's bytes.
  assert.equal(chunk.data.length, values[4]!.length + values[5]!.length);
  assert.equal(bytes, values.reduce((n, v) => n + v.length, 0));
  const messages = unpackChunk(structuredClone(chunk, { transfer }), () => stored);
  for (const [i, { record: got, decoded }] of messages.entries()) {
    assert.deepEqual(got.value, values[i], `message ${i}`);
    const reference = await expected(values[i]!, resolver);
    assert.ok(!(reference instanceof Error) && decoded !== null && !(decoded instanceof Error));
    assert.deepEqual(decoded.alert, reference.alert);
    assert.deepEqual(decoded.raw, reference.raw);
    // Values and cutouts are views of the very memory the worker decoded from.
    assert.equal(got.value?.buffer instanceof SharedArrayBuffer, i < 4, `message ${i}`);
    if (decoded.alert.cutoutDifference !== null) {
      assert.equal(decoded.alert.cutoutDifference.buffer, got.value?.buffer, `cutout ${i}`);
    }
  }
  // Shared, not copied: a write through the worker's view shows on this side.
  placed[1]![placed[1]!.length - 1] = 99;
  assert.equal(messages[1]!.record.value?.[values[1]!.length - 1], 99);
});

Deno.test("decodeChunk() leaves to the consuming thread what it cannot decode alone", async () => {
  const { schemas, stored } = await compiled();
  const ocf = new Uint8Array(
    [...encodeOcf(JSON.stringify(SCHEMA), TYPE, [])].flatMap((part) => [...part]),
  );
  const values = [framed(1, 4242), ocf, null, new Uint8Array(0), framed(2)];
  const records = values.map((value, i) => record(value, i));
  assert.deepEqual(wantedSchemaIds(records, schemas, "auto"), [4242]);
  assert.deepEqual(wantedSchemaIds(records, schemas, "ocf"), []);
  const unresolved = new Map<number, MessageSchema | null>([...schemas, [4242, null]]);
  const { chunk } = decodeChunk(records, unresolved, "auto", "kafka");
  const messages = unpackChunk(chunk, () => stored);
  assert.equal(messages[0]!.decoded, null, "a schema the consuming thread could not resolve");
  assert.equal(messages[1]!.decoded, null, "a container message");
  assert.equal((messages[2]!.decoded as Error).message, "The message has no value");
  assert.equal(messages[2]!.record.value, null);
  assert.equal((messages[3]!.decoded as Error).message, "The message has no value");
  assert.deepEqual(messages[3]!.record.value, new Uint8Array(0));
  assert.ok(messages[4]!.decoded !== null && !(messages[4]!.decoded instanceof Error));
  // Told that every message is a container, the worker decodes none.
  const { chunk: asOcf } = decodeChunk(records.slice(4), schemas, "ocf", "kafka");
  assert.deepEqual(asOcf.outcomes, [null]);
});
