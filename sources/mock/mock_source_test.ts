import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { join } from "node:path";
import avro from "avsc";
import type { AlertRecord, ReassociationReason } from "../../model/alert_record.ts";
import { fixturesDir, testWith } from "../../tests/_support.ts";
import type { AlertsOptions, SourcedAlert } from "../alert_source.ts";
import { createAvroType } from "../../avro/avro_schema.ts";
import { toAlertRecord } from "../../formats/lsst_packet.ts";
import { MOCK_SCHEMA_VERSION, type MockDetection, MockSource } from "./mock_source.ts";

const TWO_53 = 2n ** 53n;

async function collect(source: MockSource, options: AlertsOptions = {}): Promise<SourcedAlert[]> {
  const out: SourcedAlert[] = [];
  for await (const record of source.alerts(options)) out.push(record);
  return out;
}

async function records(source: MockSource, options: AlertsOptions = {}): Promise<AlertRecord[]> {
  return (await collect(source, options)).map((record) => {
    assert.equal(record.kind, "alert");
    return (record as Extract<SourcedAlert, { kind: "alert" }>).alert;
  });
}

/** A stable text form: bigints exact, NaN visible, bytes by length and digest. */
function text(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (typeof v === "bigint") return `${v}n`;
    if (typeof v === "number" && Number.isNaN(v)) return "NaN";
    // Replace bytes from their parent: stringify would call Buffer#toJSON (a huge array) first.
    if (typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)) {
      const entries = Object.entries(v);
      if (entries.some(([, field]) => field instanceof Uint8Array)) {
        return Object.fromEntries(entries.map(([name, field]) => [
          name,
          field instanceof Uint8Array
            ? `bytes ${field.length} ${createHash("sha1").update(field).digest("hex")}`
            : field,
        ]));
      }
    }
    return v;
  });
}

Deno.test("MockSource yields identical records for the same seed", async () => {
  const a = await records(new MockSource({ count: 400, seed: 7 }));
  const b = await records(new MockSource({ count: 400, seed: 7 }));
  assert.equal(a.length, 400);
  assert.equal(text(a), text(b));
});

Deno.test("MockSource streams of different lengths share their prefix and ground truth", async () => {
  const short = new MockSource({ count: 1000, cutouts: false });
  const long = new MockSource({ count: 2000, cutouts: false });
  const shortRecords = await records(short);
  const longRecords = await records(long);
  assert.equal(text(shortRecords), text(longRecords.slice(0, 1000)));
  const shortTruth = short.groundTruth().detections;
  assert.ok(shortTruth.length > 0);
  assert.deepEqual(shortTruth, long.groundTruth().detections.slice(0, shortTruth.length));
});

Deno.test("MockSource streams differ between seeds", async () => {
  const a = await records(new MockSource({ count: 50, seed: 1, cutouts: false }));
  const b = await records(new MockSource({ count: 50, seed: 2, cutouts: false }));
  const idsA = new Set(a.map((r) => r.diaSourceId));
  assert.ok(b.every((r) => !idsA.has(r.diaSourceId)), "seeds use different id ranges");
  assert.notEqual(text(a.map((r) => r.ra)), text(b.map((r) => r.ra)));
});

Deno.test("MockSource cutouts do not change the simulated alerts", async () => {
  const withCutouts = await records(new MockSource({ count: 200, cutouts: true }));
  const without = await records(new MockSource({ count: 200, cutouts: false }));
  const strip = (r: AlertRecord) => ({
    ...r,
    cutoutScience: null,
    cutoutTemplate: null,
    cutoutDifference: null,
  });
  assert.equal(text(withCutouts.map(strip)), text(without));
  assert.ok(withCutouts.every((r) => r.cutoutScience !== null && r.cutoutTemplate !== null));
  assert.ok(without.every((r) => r.cutoutDifference === null));
});

Deno.test("MockSource ids exceed 2^53 and reach the records exactly", () => {
  const source = new MockSource({ count: 500, cutouts: false });
  let histories = 0;
  for (const { packet } of source.packets()) {
    const record = toAlertRecord(packet, MOCK_SCHEMA_VERSION);
    assert.equal(typeof packet.diaSourceId, "bigint");
    assert.ok(record.diaSourceId > TWO_53);
    assert.equal(record.diaSourceId, packet.diaSource.diaSourceId);
    assert.equal(record.alertId, packet.diaSourceId);
    assert.equal(record.visit, packet.diaSource.visit);
    assert.ok(String(record.visit).startsWith("20251"), `visit ${record.visit}`);
    if (record.diaObjectId !== null) {
      assert.ok(record.diaObjectId > TWO_53);
      assert.equal(record.diaObjectId, packet.diaSource.diaObjectId);
    }
    packet.prvDiaSources?.forEach((entry, i) => {
      histories++;
      assert.equal(record.history[i]?.diaSourceId, entry.diaSourceId);
      assert.ok((entry.diaSourceId as bigint) > TWO_53);
    });
  }
  assert.ok(histories > 100);
});

Deno.test("MockSource emits solar-system alerts shaped like real ones", () => {
  const source = new MockSource({ count: 3000, cutouts: false });
  let sso = 0;
  for (const { packet } of source.packets()) {
    const ssSource = packet.ssSource as Record<string, unknown> | null;
    if (ssSource === null) {
      assert.equal(packet.mpc_orbits, null);
      assert.ok(packet.diaObject !== null);
      assert.equal(packet.diaSource.ssObjectId, 0n, "DIA alerts say 0, not null");
      continue;
    }
    sso++;
    assert.equal(packet.diaSource.diaObjectId, 0n);
    assert.equal(packet.diaObject, null);
    assert.equal(packet.prvDiaSources, null);
    assert.equal(packet.prvDiaForcedSources, null);
    assert.equal(ssSource.ssObjectId, packet.diaSource.ssObjectId);
    assert.equal(ssSource.diaSourceId, packet.diaSource.diaSourceId);
    const orbit = packet.mpc_orbits as Record<string, unknown>;
    assert.equal(orbit.designation, ssSource.designation);
    assert.ok((packet.diaSource.ssObjectId as bigint) > TWO_53);
    const record = toAlertRecord(packet, MOCK_SCHEMA_VERSION);
    assert.equal(record.diaObjectId, null);
    assert.equal(record.ssObjectId, packet.diaSource.ssObjectId);
    assert.deepEqual(record.history, []);
  }
  assert.ok(sso > 40 && sso < 150, `${sso} solar-system alerts of 3000 at share 0.03`);
  assert.equal(sso, source.groundTruth().solarSystemAlerts);
});

Deno.test("MockSource histories grow over nights, oldest first, within historyLimit", () => {
  const source = new MockSource({ count: 3000, historyLimit: 5, cutouts: false });
  const lastLength = new Map<bigint, number>();
  let capped = 0;
  let grew = 0;
  let previousMidpoint = -Infinity;
  for (const { packet } of source.packets()) {
    const trigger = packet.diaSource;
    assert.ok(trigger.midpointMjdTai >= previousMidpoint, "alerts come in time order");
    previousMidpoint = trigger.midpointMjdTai;
    const history = packet.prvDiaSources ?? [];
    assert.ok(history.length <= 5);
    if (history.length === 5) capped++;
    let before = -Infinity;
    for (const entry of history) {
      assert.equal(entry.diaObjectId, trigger.diaObjectId, "history holds the same object");
      assert.ok(entry.midpointMjdTai > before, "oldest first");
      assert.ok(entry.midpointMjdTai < trigger.midpointMjdTai, "earlier than the trigger");
      before = entry.midpointMjdTai;
    }
    const object = trigger.diaObjectId as bigint;
    if (object === 0n) continue;
    const last = lastLength.get(object);
    if (last !== undefined) {
      assert.ok(history.length >= Math.min(last + 1, 5), "a revisit adds the previous source");
      if (history.length > last) grew++;
    }
    lastLength.set(object, history.length);
  }
  assert.ok(capped > 50, `${capped} alerts reached historyLimit`);
  assert.ok(grew > 500, `${grew} revisits grew a history`);
  const longest = Math.max(
    ...[...new MockSource({ count: 3000, cutouts: false }).packets()].map(({ packet }) =>
      packet.prvDiaSources?.length ?? 0
    ),
  );
  assert.ok(longest > 5 && longest <= 30, `longest default history ${longest}`);
});

Deno.test("MockSource.groundTruth() holds every reason for 3000 alerts", () => {
  const truth = new MockSource({ count: 3000, cutouts: false }).groundTruth();
  assert.equal(truth.alerts, 3000);
  assert.ok(truth.byReason.new_association > 0);
  assert.ok(truth.byReason.changed_association > 0);
  assert.ok(truth.byReason.association_removed > 0);
  assert.equal(truth.byReason.updated_timestamp, 0);
  const sum = Object.values(truth.byReason).reduce((a, b) => a + b, 0);
  assert.equal(sum, truth.detections.length);
  assert.ok(truth.newSources > truth.alerts, "histories reach back before the stream");
  for (const seed of [1, 2, 3, 4, 5]) {
    const { byReason } = new MockSource({ count: 2000, seed, cutouts: false }).groundTruth();
    assert.ok(byReason.changed_association > 0, `seed ${seed} changes`);
    assert.ok(byReason.association_removed > 0, `seed ${seed} removals`);
  }
});

Deno.test("MockSource.groundTruth() equals an independent replay of the yielded records", async () => {
  const source = new MockSource({ count: 3000, cutouts: false });
  const last = new Map<bigint, bigint | null>();
  const detections: MockDetection[] = [];
  const observe = (diaSourceId: bigint, ssObjectId: bigint | null, alert: bigint) => {
    if (!last.has(diaSourceId)) {
      last.set(diaSourceId, ssObjectId);
      return;
    }
    const old = last.get(diaSourceId) ?? null;
    if (old !== ssObjectId) {
      const reason: ReassociationReason = old === null
        ? "new_association"
        : ssObjectId === null
        ? "association_removed"
        : "changed_association";
      detections.push({
        diaSourceId,
        reason,
        oldSsObjectId: old,
        newSsObjectId: ssObjectId,
        alertDiaSourceId: alert,
      });
    }
    last.set(diaSourceId, ssObjectId);
  };
  let solarSystem = 0;
  let alerts = 0;
  for (const record of await records(source)) {
    alerts++;
    if (record.diaObjectId === null) solarSystem++;
    observe(record.diaSourceId, record.ssObjectId, record.diaSourceId);
    for (const entry of record.history) {
      observe(entry.diaSourceId, entry.ssObjectId, record.diaSourceId);
    }
  }
  const truth = source.groundTruth();
  assert.deepEqual(detections, truth.detections);
  assert.equal(last.size, truth.newSources);
  assert.equal(alerts, truth.alerts);
  assert.equal(solarSystem, truth.solarSystemAlerts);
  assert.equal(source.groundTruth(), truth, "computed once");
});

Deno.test("MockSource.alerts() names cursors after the seed and the alert index", async () => {
  const source = new MockSource({ count: 3, seed: 9, cutouts: false });
  assert.equal(source.stream, "mock:9");
  assert.equal(source.name, "mock");
  assert.deepEqual(source.params, {
    count: 3,
    seed: 9,
    startMjd: 61000,
    reassociationShare: 0.05,
    solarSystemShare: 0.03,
    cutouts: false,
    historyLimit: 30,
  });
  const all = await collect(source);
  assert.deepEqual(all.map((r) => r.cursor), [
    { stream: "mock:9", position: "0" },
    { stream: "mock:9", position: "1" },
    { stream: "mock:9", position: "2" },
  ]);
  assert.ok(all.every((r) => r.kind === "alert" && r.alert.source === "mock"));
  assert.ok(all.every((r) => r.kind === "alert" && r.alert.schemaVersion === "11.0"));
});

Deno.test("MockSource.alerts() resumes after the stored position", async () => {
  const source = new MockSource({ count: 300, cutouts: false });
  const full = await collect(source);
  const resumed = await collect(source, { resumeFrom: new Map([["mock:42", "199"]]) });
  assert.equal(resumed[0]?.cursor.position, "200");
  assert.equal(text(resumed), text(full.slice(200)));
  const other = await collect(source, { resumeFrom: new Map([["mock:7", "199"]]) });
  assert.equal(other.length, 300, "other streams' positions do not apply");
  assert.deepEqual(await collect(source, { resumeFrom: new Map([["mock:42", "299"]]) }), []);
  await assert.rejects(
    () => collect(source, { resumeFrom: new Map([["mock:42", "abc"]]) }),
    {
      name: "RangeError",
      message: 'Cannot resume mock stream "mock:42" from position "abc": expected an alert index',
    },
  );
});

Deno.test("MockSource.alerts() stops at the limit", async () => {
  const source = new MockSource({ count: 100, cutouts: false });
  assert.equal((await collect(source, { limit: 7 })).length, 7);
  assert.equal((await collect(source, { limit: 0 })).length, 0);
  const resumed = await collect(source, { limit: 3, resumeFrom: new Map([["mock:42", "9"]]) });
  assert.deepEqual(resumed.map((r) => r.cursor.position), ["10", "11", "12"]);
});

Deno.test("MockSource.alerts() stops between records when the signal aborts", async () => {
  const source = new MockSource({ count: 100, cutouts: false });
  const controller = new AbortController();
  const seen: string[] = [];
  for await (const record of source.alerts({ signal: controller.signal })) {
    seen.push(record.cursor.position);
    if (seen.length === 5) controller.abort();
  }
  assert.deepEqual(seen, ["0", "1", "2", "3", "4"]);
  assert.deepEqual(await collect(source, { signal: controller.signal }), []);
});

Deno.test("MockSource disposal is safe twice and ends running iterations", async () => {
  const source = new MockSource({ count: 100, cutouts: false });
  const seen: string[] = [];
  for await (const record of source.alerts()) {
    seen.push(record.cursor.position);
    if (seen.length === 3) await source[Symbol.asyncDispose]();
  }
  assert.equal(seen.length, 3);
  await source[Symbol.asyncDispose]();
  await assert.rejects(() => collect(source), TypeError);
});

Deno.test("MockSource rejects invalid options", () => {
  assert.throws(() => new MockSource({ count: -1 }), {
    name: "RangeError",
    message: 'Invalid mock option "count": expected a non-negative integer, got "-1"',
  });
  assert.throws(() => new MockSource({ count: 1, seed: 1.5 }), RangeError);
  assert.throws(() => new MockSource({ count: 1, reassociationShare: 2 }), RangeError);
  assert.throws(() => new MockSource({ count: 1, solarSystemShare: NaN }), RangeError);
  assert.throws(() => new MockSource({ count: 1, historyLimit: -3 }), RangeError);
  assert.throws(() => new MockSource({ count: 1, startMjd: Infinity }), RangeError);
});

interface Hdu {
  cards: Map<string, string>;
  data: DataView;
}

/** A minimal FITS reader: headers as key → raw value, data located by BITPIX and NAXISn. */
function readFits(bytes: Uint8Array): Hdu[] {
  assert.equal(bytes.length % 2880, 0, "whole 2880-byte blocks");
  const hdus: Hdu[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const cards = new Map<string, string>();
    let ended = false;
    while (!ended) {
      for (let i = 0; i < 36; i++) {
        const card = new TextDecoder().decode(
          bytes.subarray(offset + i * 80, offset + i * 80 + 80),
        );
        const key = card.slice(0, 8).trim();
        if (key === "END") {
          ended = true;
          break;
        }
        if (card.slice(8, 10) === "= ") {
          const value = card.slice(10).replace(/\/[^']*$/, "").trim();
          cards.set(key, value.replace(/^'(.*)'$/, "$1").trim());
        }
      }
      offset += 2880;
    }
    const length = Math.abs(Number(cards.get("BITPIX"))) / 8 * Number(cards.get("NAXIS1")) *
      Number(cards.get("NAXIS2"));
    hdus.push({ cards, data: new DataView(bytes.buffer, bytes.byteOffset + offset, length) });
    offset += Math.ceil(length / 2880) * 2880;
  }
  assert.equal(offset, bytes.length);
  return hdus;
}

Deno.test("MockSource cutouts are 3-HDU FITS files like Rubin's", () => {
  const source = new MockSource({ count: 5 });
  for (const { packet } of source.packets()) {
    for (const name of ["cutoutScience", "cutoutTemplate", "cutoutDifference"] as const) {
      const bytes = packet[name];
      assert.ok(bytes instanceof Uint8Array && Buffer.isBuffer(bytes), `${name} is a Buffer`);
      const [image, uncert, psf, ...rest] = readFits(bytes);
      assert.deepEqual(rest, []);
      assert.ok(image && uncert && psf);
      assert.equal(image.cards.get("SIMPLE"), "T");
      assert.equal(image.cards.get("EXTEND"), "T");
      assert.equal(image.cards.get("BITPIX"), "-32");
      assert.equal(image.cards.get("BUNIT"), "nJy");
      assert.equal(image.cards.get("NAXIS1"), "30");
      assert.equal(image.cards.get("NAXIS2"), "30");
      assert.equal(image.cards.has("CTYPE1"), false);
      assert.equal(uncert.cards.get("XTENSION"), "IMAGE");
      assert.equal(uncert.cards.get("EXTNAME"), "UNCERT");
      assert.equal(uncert.cards.get("BITPIX"), "-32");
      assert.ok(uncert.data.getFloat32(0) > 0, "variance is positive");
      assert.equal(psf.cards.get("EXTNAME"), "PSFIMAGE");
      assert.equal(psf.cards.get("BITPIX"), "-64");
      assert.equal(psf.cards.get("NAXIS1"), "21");
      let sum = 0;
      for (let i = 0; i < 21 * 21; i++) sum += psf.data.getFloat64(i * 8);
      assert.ok(Math.abs(sum - 1) < 1e-9, `PSF sums to ${sum}`);
      let finite = true;
      for (let i = 0; i < 900; i++) finite &&= Number.isFinite(image.data.getFloat32(i * 4));
      assert.ok(finite);
    }
  }
});

/** The official v11.0 alert schema: sub-records into one registry first, `alert` last. */
function officialV11(): avro.Type {
  const dir = join(fixturesDir() as string, "lsst", "schema", "11.0");
  const names = [...Deno.readDirSync(dir)].map((entry) => entry.name).filter((name) =>
    name.endsWith(".avsc")
  );
  const ordered = [
    ...names.filter((name) => !name.endsWith(".alert.avsc")).sort(),
    ...names.filter((name) => name.endsWith(".alert.avsc")),
  ];
  // `long` as `bigint`, as the ingester decodes it.
  const registry: Record<string, avro.Type> = { long: createAvroType("long") };
  let type: avro.Type | undefined;
  for (const name of ordered) {
    type = avro.Type.forSchema(JSON.parse(Deno.readTextFileSync(join(dir, name))), { registry });
  }
  assert.ok(type !== undefined && type.name === "lsst.v11_0.alert");
  return type;
}

testWith(fixturesDir() !== null, "the shared fixtures (../shared/fixtures)", {
  name: "MockSource packets are valid v11.0 alerts and survive an Avro round trip",
  fn() {
    const type = officialV11();
    const source = new MockSource({ count: 1500, solarSystemShare: 0.2, seed: 3 });
    let checked = 0;
    for (const { index, packet } of source.packets()) {
      const errors: string[] = [];
      const valid = type.isValid(packet, {
        errorHook: (path: string[], value: unknown) => errors.push(`${path.join(".")}=${value}`),
      });
      assert.ok(valid, `alert ${index}: ${errors.slice(0, 5).join(", ")}`);
      if (index % 50 === 0) {
        const decoded = type.fromBuffer(type.toBuffer(packet));
        assert.equal(
          text(toAlertRecord(decoded, MOCK_SCHEMA_VERSION, { source: "mock" })),
          text(toAlertRecord(packet, MOCK_SCHEMA_VERSION, { source: "mock" })),
          `alert ${index} maps the same after encoding`,
        );
      }
      checked++;
    }
    assert.equal(checked, 1500);
  },
});
