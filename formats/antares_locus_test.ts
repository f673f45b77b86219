import assert from "node:assert/strict";
import { join } from "node:path";
import { createDeflate, deflateSync } from "node:zlib";
import { BSON } from "bson";
import { parseExact } from "../model/exact_json.ts";
import { fixturesDir, pythonWith, testWith } from "../tests/_support.ts";
import {
  assertLocusId,
  decodeLocusMessage,
  encodeLocusMessage,
  toLocusRecord,
} from "./antares_locus.ts";

const FIXTURES = fixturesDir();
const HTM16 = 12345678901234567n; // above 2^53: a JS number cannot hold it

interface ClientAlert {
  alert_id: string;
  mjd: number;
  processed_at: string | null;
  grav_wave_events: unknown[];
  properties: Record<string, unknown>;
}

interface ClientLocus {
  locus_id: string;
  ra: number;
  dec: number;
  properties: Record<string, unknown>;
  tags: string[];
  catalogs: string[];
}

async function readFixture<T>(name: string): Promise<T> {
  return parseExact(await Deno.readTextFile(join(FIXTURES!, "antares", "lsst", name))) as T;
}

/** The client-normalised captures turned back into the JSON:API document a message carries. */
function locusDocument(
  locus: ClientLocus,
  alerts: ClientAlert[] = [],
): Record<string, unknown> {
  return {
    data: {
      type: "locus",
      id: locus.locus_id,
      attributes: {
        ra: locus.ra,
        dec: locus.dec,
        htm16: HTM16,
        properties: locus.properties,
        tags: locus.tags,
        catalogs: locus.catalogs,
      },
    },
    included: alerts.map((alert) => ({
      type: "alert",
      id: alert.alert_id,
      attributes: {
        mjd: alert.mjd,
        processed_at: alert.processed_at,
        grav_wave_events: alert.grav_wave_events,
        properties: alert.properties,
      },
    })),
  };
}

/** A small locus like the real one, for the defect cases. */
function smallDocument(attributes: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    data: {
      type: "locus",
      id: "ANT2026rq61krn5dipt",
      attributes: {
        ra: 62.457633838393754,
        dec: -48.4814921664055,
        htm16: HTM16,
        properties: { num_alerts: 16, newest_alert_id: "lsst:170666304474710039" },
        tags: ["in_LSSTDDF", "SN_candies"],
        catalogs: [],
        ...attributes,
      },
    },
  };
}

function withoutAttribute(name: string): Record<string, unknown> {
  const document = smallDocument();
  delete ((document.data as Record<string, unknown>).attributes as Record<string, unknown>)[name];
  return document;
}

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "encodeLocusMessage() and decodeLocusMessage() round-trip the real locus exactly",
  async fn() {
    const locus = await readFixture<ClientLocus>("locus.json");
    const alerts = await readFixture<ClientAlert[]>("alerts.json");
    const bytes = encodeLocusMessage(locusDocument(locus, alerts));
    assert.equal(bytes[0], 0x78, "a zlib (RFC 1950) header");

    const decoded = decodeLocusMessage(bytes);
    assert.equal(decoded.locusId, "ANT2026rq61krn5dipt");
    assert.equal(decoded.ra, locus.ra);
    assert.equal(decoded.dec, locus.dec);
    assert.equal(decoded.htm16, HTM16);
    assert.deepEqual(decoded.tags, locus.tags);
    assert.deepEqual(decoded.catalogs, []);
    assert.deepEqual({ ...decoded.properties }, locus.properties);

    assert.equal(decoded.included.length, 16);
    for (const [i, resource] of decoded.included.entries()) {
      const alert = alerts[i]!;
      assert.equal(resource.id, alert.alert_id);
      assert.equal(resource.mjd, alert.mjd);
      assert.equal(resource.processedAt, alert.processed_at);
      // Ids above 2^53 come back as the same bigints.
      assert.equal(
        resource.properties.lsst_diaSource_diaSourceId,
        alert.properties.lsst_diaSource_diaSourceId,
      );
      assert.equal(typeof resource.properties.lsst_diaSource_diaSourceId, "bigint");
    }
    assert.equal(
      decoded.included[0]!.properties.lsst_diaSource_diaSourceId,
      170587117485817955n,
    );
  },
});

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "toLocusRecord() stores the real locus's properties as exact JSON",
  async fn() {
    const locus = await readFixture<ClientLocus>("locus.json");
    const decoded = decodeLocusMessage(encodeLocusMessage(locusDocument(locus)));
    const record = toLocusRecord(decoded, "lsst:170666304474710039");
    assert.equal(record.locusId, "ANT2026rq61krn5dipt");
    assert.equal(record.htm16, HTM16);
    assert.equal(record.newestAlertId, "lsst:170666304474710039");
    assert.deepEqual(record.tags, locus.tags);
    assert.deepEqual(parseExact(record.properties), locus.properties);
  },
});

Deno.test("toLocusRecord() writes bigints in properties without rounding", () => {
  const decoded = decodeLocusMessage(
    encodeLocusMessage(smallDocument({ properties: { newest_diaSourceId: 170587117485817955n } })),
  );
  const record = toLocusRecord(decoded, null);
  assert.equal(record.properties, '{"newest_diaSourceId":170587117485817955}');
  assert.equal(record.newestAlertId, null);
});

Deno.test("decodeLocusMessage() keeps included alerts and skips resources of other types", () => {
  const document = smallDocument();
  document.included = [
    {
      type: "alert",
      id: "lsst:170587117485817955",
      attributes: {
        mjd: 61217.42118006405,
        processed_at: new Date("2026-06-26T10:27:01.585Z"),
        properties: { ant_survey: 4, lsst_diaSource_diaSourceId: 170587117485817955n },
      },
    },
    { type: "locus", id: "ANT2026other", attributes: {} },
    {
      type: "alert",
      id: "ztf:2987654321015015001",
      attributes: { mjd: 61217.5, properties: { ant_survey: 1 } },
    },
  ];
  const { included } = decodeLocusMessage(encodeLocusMessage(document));
  assert.deepEqual(included.map((alert) => alert.id), [
    "lsst:170587117485817955",
    "ztf:2987654321015015001",
  ]);
  assert.equal(included[0]!.processedAt, "2026-06-26T10:27:01.585Z", "a BSON datetime as ISO");
  assert.equal(included[0]!.properties.lsst_diaSource_diaSourceId, 170587117485817955n);
  assert.equal(included[1]!.processedAt, null);
});

Deno.test("decodeLocusMessage() reads htm16 as a safe number, absent htm16 and catalogs", () => {
  assert.equal(
    decodeLocusMessage(encodeLocusMessage(smallDocument({ htm16: 123456 }))).htm16,
    123456n,
  );
  const document = withoutAttribute("htm16");
  delete ((document.data as Record<string, unknown>).attributes as Record<string, unknown>)
    .catalogs;
  const decoded = decodeLocusMessage(encodeLocusMessage(document));
  assert.equal(decoded.htm16, null);
  assert.deepEqual(decoded.catalogs, []);
  const keyed = decodeLocusMessage(
    encodeLocusMessage(smallDocument({ catalogs: { gaia_dr3: [{}], "2mass": [] } })),
  );
  assert.deepEqual(keyed.catalogs, ["gaia_dr3", "2mass"]);
});

Deno.test("decodeLocusMessage() rejects a locus without ra, dec, properties or tags", () => {
  for (const name of ["ra", "dec", "properties", "tags"]) {
    assert.throws(
      () => decodeLocusMessage(encodeLocusMessage(withoutAttribute(name))),
      new TypeError(`Locus message field "data.attributes.${name}" is missing`),
    );
  }
});

Deno.test("decodeLocusMessage() rejects ra or dec that are not finite numbers", () => {
  for (const [value, shown] of [["62.4", "62.4"], [Number.NaN, "NaN"], [Infinity, "Infinity"]]) {
    assert.throws(
      () => decodeLocusMessage(encodeLocusMessage(smallDocument({ dec: value }))),
      new TypeError(`Locus message field "data.attributes.dec" is not a finite number: "${shown}"`),
    );
  }
  assert.throws(
    () => decodeLocusMessage(encodeLocusMessage(smallDocument({ ra: null }))),
    new TypeError(`Locus message field "data.attributes.ra" is not a finite number: "null"`),
  );
});

Deno.test("decodeLocusMessage() rejects tags that are not a list of strings", () => {
  assert.throws(
    () => decodeLocusMessage(encodeLocusMessage(smallDocument({ tags: ["in_LSSTDDF", 7] }))),
    new TypeError(`Locus message field "data.attributes.tags[1]" is not a string: "7"`),
  );
  assert.throws(
    () => decodeLocusMessage(encodeLocusMessage(smallDocument({ properties: [1, 2] }))),
    new TypeError(`Locus message field "data.attributes.properties" is not a record: an array`),
  );
});

Deno.test("decodeLocusMessage() rejects bytes that are not zlib", () => {
  const bson = BSON.serialize(smallDocument());
  for (const bytes of [bson, new TextEncoder().encode("hello"), new Uint8Array(0)]) {
    assert.throws(() => decodeLocusMessage(bytes), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /^Locus message is not zlib data: \S/);
      return true;
    });
  }
  // A truncated stream and a damaged checksum are not zlib data either.
  const good = encodeLocusMessage(smallDocument());
  const damaged = good.slice();
  damaged[damaged.length - 1]! ^= 0xff;
  for (const bytes of [good.subarray(0, good.length - 8), damaged]) {
    assert.throws(() => decodeLocusMessage(bytes), /^TypeError: Locus message is not zlib data/);
  }
});

Deno.test("decodeLocusMessage() rejects zlib data that is not a BSON document", () => {
  const garbage = deflateSync(new TextEncoder().encode("garbage, not a BSON document at all"));
  // What a BSON string element (int32 length, bytes, NUL) looks like without a document.
  const string = deflateSync(new Uint8Array([4, 0, 0, 0, 0x61, 0x62, 0x63, 0]));
  for (const bytes of [garbage, string, deflateSync(new Uint8Array(0))]) {
    assert.throws(() => decodeLocusMessage(bytes), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /^Locus message is not a BSON document: \S/);
      return true;
    });
  }
});

Deno.test("decodeLocusMessage() rejects a BSON array as a document without data", () => {
  // BSON writes an array as a document keyed "0", "1", …: these are its exact bytes.
  const array = deflateSync(BSON.serialize({ 0: "lsst:1", 1: 2n }));
  assert.throws(
    () => decodeLocusMessage(array),
    new TypeError(`Locus message field "data" is missing`),
  );
  assert.throws(
    () => decodeLocusMessage(encodeLocusMessage({ data: ["locus"] })),
    new TypeError(`Locus message field "data" is not a record: an array`),
  );
});

Deno.test("decodeLocusMessage() rejects an alert document in place of a locus", () => {
  const document = smallDocument();
  (document.data as Record<string, unknown>).type = "alert";
  assert.throws(
    () => decodeLocusMessage(encodeLocusMessage(document)),
    new TypeError(`Locus message field "data.type" is not "locus": "alert"`),
  );
});

Deno.test("decodeLocusMessage() rejects a locus id that could steer an API URL", () => {
  const document = smallDocument();
  (document.data as Record<string, unknown>).id = "../../etc";
  assert.throws(
    () => decodeLocusMessage(encodeLocusMessage(document)),
    new TypeError(`Locus id is not a plain ANTARES id: "../../etc"`),
  );
});

Deno.test("decodeLocusMessage() reports an invalid included alert by its position", () => {
  const document = smallDocument();
  document.included = [{ type: "alert", id: "lsst:1", attributes: { properties: {} } }];
  assert.throws(
    () => decodeLocusMessage(encodeLocusMessage(document)),
    new TypeError(`ANTARES resource field "included[0].attributes.mjd" is missing`),
  );
});

Deno.test("decodeLocusMessage() stops inflating a zlib bomb at maxBytes", () => {
  const bomb = deflateSync(new Uint8Array(16 * 1024 * 1024)); // 16 MiB of zeros in ~16 KB
  assert.ok(bomb.length < 64 * 1024);
  assert.throws(
    () => decodeLocusMessage(bomb, { maxBytes: 1024 * 1024 }),
    new RangeError(`Locus message inflates to more than "1048576" bytes`),
  );
  assert.throws(
    () => decodeLocusMessage(bomb, { maxBytes: 1024 }),
    new RangeError(`Locus message is too large: "${bomb.length}" bytes, more than "1024"`),
  );
  assert.throws(() => decodeLocusMessage(bomb, { maxBytes: 0 }), RangeError);
});

Deno.test("decodeLocusMessage() stops a zlib bomb beyond the default 64 MiB cap", async () => {
  // 80 MiB of zeros deflated as a stream, so the test itself never holds 80 MiB.
  const deflate = createDeflate();
  const chunks: Uint8Array[] = [];
  deflate.on("data", (chunk: Uint8Array) => chunks.push(chunk));
  const ended = new Promise((resolve) => deflate.on("end", resolve));
  const zeros = new Uint8Array(1024 * 1024);
  for (let i = 0; i < 80; i++) deflate.write(zeros);
  deflate.end();
  await ended;
  const bomb = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bomb.set(chunk, offset);
    offset += chunk.length;
  }
  assert.throws(
    () => decodeLocusMessage(bomb),
    new RangeError(`Locus message inflates to more than "67108864" bytes`),
  );
});

Deno.test("encodeLocusMessage() refuses a document that is not a record", () => {
  for (const value of [[1, 2], "locus", null, 7]) {
    assert.throws(() => encodeLocusMessage(value), /^TypeError: Locus document is not a record/);
  }
});

Deno.test("assertLocusId() accepts ANTARES ids and refuses ids that could steer a URL", () => {
  assert.equal(assertLocusId("ANT2026rq61krn5dipt"), "ANT2026rq61krn5dipt");
  assert.equal(assertLocusId("ANT2020aaaa.b-c_d:e"), "ANT2020aaaa.b-c_d:e");
  for (const id of ["", ".", "..", "../../etc", "a/b", "a\\b", "a\u0000b", "a\nb", "a b"]) {
    assert.throws(() => assertLocusId(id), TypeError, JSON.stringify(id));
  }
  assert.throws(() => assertLocusId("A".repeat(257)), TypeError);
});

const PYTHON = pythonWith("zlib");

testWith(PYTHON !== null, "a python3 interpreter", {
  name: "decodeLocusMessage() reads zlib written by Python and Python reads encodeLocusMessage()",
  async fn() {
    const bson = BSON.serialize(smallDocument());
    const compress = await pipeThrough(
      PYTHON!,
      "import sys, zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read(), 9))",
      bson,
    );
    const decoded = decodeLocusMessage(compress);
    assert.equal(decoded.locusId, "ANT2026rq61krn5dipt");
    assert.equal(decoded.htm16, HTM16);

    const inflated = await pipeThrough(
      PYTHON!,
      "import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))",
      encodeLocusMessage(smallDocument()),
    );
    assert.deepEqual(inflated, new Uint8Array(bson));
  },
});

async function pipeThrough(python: string, script: string, input: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command(python, {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  assert.ok(success, new TextDecoder().decode(stderr));
  return stdout;
}
