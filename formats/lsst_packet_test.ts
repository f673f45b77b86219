import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import avro from "avsc";
import { fixturesDir, testWith } from "../tests/_support.ts";
import { createAvroType } from "../avro/avro_schema.ts";
import { type LsstAlertPacket, type LsstDiaSource, toAlertRecord } from "./lsst_packet.ts";

const BIG_ID = 170094456272322680n; // above 2^53: a JS number cannot hold it
const OBJECT_ID = 170028485706776685n;
const SS_ID = 21000000000011111n;

/** The fields every version since 7.0 has, with values like a real 2026 alert. */
function commonSource(overrides: Partial<Record<string, unknown>> = {}): LsstDiaSource {
  return {
    diaSourceId: BIG_ID,
    visit: 2026030500055n,
    detector: 140,
    diaObjectId: OBJECT_ID,
    ssObjectId: 0n,
    parentDiaSourceId: 0n,
    midpointMjdTai: 61105.093643486834,
    ra: 63.349628499442076,
    raErr: 0.00000680093080518418,
    dec: -47.18075801654059,
    decErr: 0.0000066317879827693105,
    x: 1213.8035888671875,
    y: 2275.350830078125,
    snr: 34.540218353271484,
    psfFlux: -19549.39453125,
    psfFluxErr: 555.803955078125,
    extendedness: 0.03993349149823189,
    reliability: 0.8754439353942871,
    band: "i",
    ...overrides,
  } as LsstDiaSource;
}

function historyEntry(
  id: bigint,
  ssObjectId: bigint | null,
  midpointMjdTai: number,
): LsstDiaSource {
  return commonSource({ diaSourceId: id, ssObjectId, midpointMjdTai });
}

/** v11.0: counters are non-nullable ints; `mpc_orbits`; v8+ top-level fields. */
function v11Packet(overrides: Partial<Record<string, unknown>> = {}): LsstAlertPacket {
  return {
    diaSourceId: BIG_ID,
    observation_reason: "ddf_edfs_b",
    target_name: "ddf_edfs_b, lowdust",
    diaSource: commonSource({
      psfNdata: 1681,
      trailNdata: 0,
      dipoleNdata: 0,
      bboxSize: 28,
      timeProcessedMjdTai: 61105.09555626316,
      glint_trail: false,
    }),
    prvDiaSources: [
      historyEntry(170028485706776685n, null, 61090.04758412875),
      historyEntry(170028485975212131n, 0n, 61090.04845547461),
      historyEntry(170028486242598921n, SS_ID, 61090.053544324786),
    ],
    prvDiaForcedSources: [],
    diaObject: { diaObjectId: OBJECT_ID, nDiaSources: 4, u_psfFluxNdata: 0 },
    ssSource: null,
    mpc_orbits: null,
    cutoutDifference: null,
    cutoutScience: null,
    cutoutTemplate: null,
    ...overrides,
  } as LsstAlertPacket;
}

Deno.test("toAlertRecord() maps a v11.0 packet field by field", () => {
  const record = toAlertRecord(v11Packet(), "11.0", { source: "kafka" });
  assert.deepEqual(record, {
    diaSourceId: BIG_ID,
    alertId: BIG_ID,
    diaObjectId: OBJECT_ID,
    ssObjectId: null,
    ssObjectName: null,
    objectName: null,
    ssObjectReassocTimeMjdTai: null,
    ra: 63.349628499442076,
    dec: -47.18075801654059,
    raErr: 0.00000680093080518418,
    decErr: 0.0000066317879827693105,
    midpointMjdTai: 61105.093643486834,
    band: "i",
    psfFlux: -19549.39453125,
    psfFluxErr: 555.803955078125,
    snr: 34.540218353271484,
    extendedness: 0.03993349149823189,
    reliability: 0.8754439353942871,
    visit: 2026030500055n,
    detector: 140,
    observationReason: "ddf_edfs_b",
    targetName: "ddf_edfs_b, lowdust",
    schemaVersion: "11.0",
    source: "kafka",
    survey: "lsst",
    history: [
      {
        diaSourceId: 170028485706776685n,
        ssObjectId: null,
        midpointMjdTai: 61090.04758412875,
        ssObjectReassocTimeMjdTai: null,
      },
      {
        diaSourceId: 170028485975212131n,
        ssObjectId: null,
        midpointMjdTai: 61090.04845547461,
        ssObjectReassocTimeMjdTai: null,
      },
      {
        diaSourceId: 170028486242598921n,
        ssObjectId: SS_ID,
        midpointMjdTai: 61090.053544324786,
        ssObjectReassocTimeMjdTai: null,
      },
    ],
    properties: null,
    snapshot: false,
    cutoutScience: null,
    cutoutTemplate: null,
    cutoutDifference: null,
    isReassociation: false,
    reassociationReason: null,
    reassociations: [],
  });
});

Deno.test("toAlertRecord() reads the v7.4 field set: alertId, ssObject, no scheduler fields", () => {
  const packet: LsstAlertPacket = {
    alertId: 1231321321n,
    diaSource: commonSource({ is_negative: true, ssObjectId: SS_ID }),
    prvDiaSources: [historyEntry(BIG_ID - 5n, 0n, 61100.1)],
    prvDiaForcedSources: null,
    prvDiaNondetectionLimits: [
      { ccdVisitId: 1n, midpointMjdTai: 61099.2, band: "g", diaNoise: 210.5 },
    ],
    diaObject: null,
    ssObject: { ssObjectId: SS_ID, numObs: 10, medianExtendedness: 0.1 },
    cutoutDifference: null,
    cutoutScience: null,
    cutoutTemplate: null,
  };
  const record = toAlertRecord(packet, "7.4");
  assert.equal(record.alertId, 1231321321n);
  assert.equal(record.diaSourceId, BIG_ID);
  assert.equal(record.ssObjectId, SS_ID);
  assert.equal(record.observationReason, null);
  assert.equal(record.targetName, null);
  assert.equal(record.schemaVersion, "7.4");
  assert.deepEqual(record.history.map((h) => [h.diaSourceId, h.ssObjectId]), [[BIG_ID - 5n, null]]);
});

Deno.test("toAlertRecord() reads the v9.0 field set with MPCORB", () => {
  const packet = v11Packet({
    diaSource: commonSource({ psfNdata: null, bboxSize: null, timeProcessedMjdTai: 61105.1 }),
    mpc_orbits: undefined,
    MPCORB: null,
    ssSource: null,
  });
  delete (packet as Record<string, unknown>).mpc_orbits;
  const record = toAlertRecord(packet, "9.0");
  assert.equal(record.schemaVersion, "9.0");
  assert.equal(record.diaSourceId, BIG_ID);
  assert.equal(record.history.length, 3);
  assert.equal(record.observationReason, "ddf_edfs_b");
});

Deno.test("toAlertRecord() reads the v10.0 field set with mpc_orbits", () => {
  const record = toAlertRecord(
    v11Packet({ diaSource: commonSource({ psfNdata: null, trailNdata: null }) }),
    "10.0",
  );
  assert.equal(record.schemaVersion, "10.0");
  assert.equal(record.diaObjectId, OBJECT_ID);
});

Deno.test("toAlertRecord() keeps ids above 2^53 exact", () => {
  const id = 9223372036854775807n; // int64 maximum
  const record = toAlertRecord(
    v11Packet({
      diaSourceId: id,
      diaSource: commonSource({ diaSourceId: id - 1n, diaObjectId: id - 2n, ssObjectId: id - 3n }),
      prvDiaSources: [historyEntry(id - 4n, id - 5n, 61000)],
    }),
    "11.0",
  );
  assert.equal(record.alertId, id);
  assert.equal(record.diaSourceId, id - 1n);
  assert.equal(record.diaObjectId, id - 2n);
  assert.equal(record.ssObjectId, id - 3n);
  assert.equal(record.history[0]?.diaSourceId, id - 4n);
  assert.equal(record.history[0]?.ssObjectId, id - 5n);
  assert.equal(String(record.diaSourceId), "9223372036854775806");
});

Deno.test("toAlertRecord() maps association id 0 and null to null, in trigger and history", () => {
  for (const none of [0n, 0, null, undefined]) {
    const record = toAlertRecord(
      v11Packet({
        diaSource: commonSource({ diaObjectId: none, ssObjectId: none }),
        prvDiaSources: [historyEntry(1n, none as bigint | null, 61000)],
      }),
      "11.0",
    );
    assert.equal(record.diaObjectId, null, `diaObjectId ${String(none)}`);
    assert.equal(record.ssObjectId, null, `ssObjectId ${String(none)}`);
    assert.equal(record.history[0]?.ssObjectId, null, `history ssObjectId ${String(none)}`);
  }
});

Deno.test("toAlertRecord() maps a solar-system alert (diaObjectId 0, ssSource, no history)", () => {
  const record = toAlertRecord(
    v11Packet({
      diaSource: commonSource({ diaObjectId: 0n, ssObjectId: SS_ID, trailLength: 2.5 }),
      prvDiaSources: null,
      prvDiaForcedSources: null,
      diaObject: null,
      ssSource: { diaSourceId: BIG_ID, ssObjectId: SS_ID, designation: "2025 AB" },
      mpc_orbits: { id: 1, designation: "2025 AB", a: 2.5 },
    }),
    "11.0",
  );
  assert.equal(record.diaObjectId, null);
  assert.equal(record.ssObjectId, SS_ID);
  assert.deepEqual(record.history, []);
});

Deno.test("toAlertRecord() turns NaN floats into null and keeps every finite value", () => {
  const record = toAlertRecord(
    v11Packet({
      diaSource: commonSource({ extendedness: NaN, reliability: NaN, snr: 0, psfFlux: -0.5 }),
    }),
    "11.0",
  );
  assert.equal(record.extendedness, null);
  assert.equal(record.reliability, null);
  assert.equal(record.snr, 0);
  assert.equal(record.psfFlux, -0.5);
});

Deno.test("toAlertRecord() accepts safe-integer numbers and rejects ids that lost precision", () => {
  const record = toAlertRecord(
    v11Packet({
      diaSourceId: 12345,
      diaSource: commonSource({ diaSourceId: 12345, diaObjectId: 77, visit: 2026030500055 }),
      prvDiaSources: [historyEntry(1n, null, 61000), {
        ...historyEntry(1n, null, 61000),
        diaSourceId: 12,
        ssObjectId: 13,
      }],
    }),
    "11.0",
  );
  assert.equal(record.diaSourceId, 12345n);
  assert.equal(record.diaObjectId, 77n);
  assert.equal(record.visit, 2026030500055n);
  assert.deepEqual(record.history[1], {
    diaSourceId: 12n,
    ssObjectId: 13n,
    midpointMjdTai: 61000,
    ssObjectReassocTimeMjdTai: null,
  });
  assert.throws(
    () => toAlertRecord(v11Packet({ diaSource: commonSource({ diaSourceId: 2 ** 60 }) }), "11.0"),
    {
      name: "TypeError",
      message: 'Alert packet field "diaSource.diaSourceId" is beyond 2^53 and lost precision ' +
        '(decode Avro long as bigint): "1152921504606847000"',
    },
  );
  assert.throws(
    () =>
      toAlertRecord(
        v11Packet({ prvDiaSources: [{ ...historyEntry(1n, null, 6), ssObjectId: 2 ** 54 }] }),
        "11.0",
      ),
    {
      name: "TypeError",
      message: /^Alert packet field "prvDiaSources\[0\]\.ssObjectId" is beyond/,
    },
  );
});

Deno.test("toAlertRecord() rejects invalid packets with a TypeError naming the field and value", () => {
  const cases: [LsstAlertPacket, string][] = [
    [null as unknown as LsstAlertPacket, 'Alert packet is not a record: "null"'],
    [v11Packet({ diaSource: undefined }), 'Alert packet field "diaSource" is missing'],
    [v11Packet({ diaSource: 42 }), 'Alert packet field "diaSource" is not a record: "42"'],
    [
      v11Packet({ diaSource: commonSource({ diaSourceId: "abc" }) }),
      'Alert packet field "diaSource.diaSourceId" is not an integer: "abc"',
    ],
    [
      v11Packet({ diaSource: commonSource({ diaSourceId: 1.5 }) }),
      'Alert packet field "diaSource.diaSourceId" is not an integer: "1.5"',
    ],
    [
      v11Packet({ diaSourceId: undefined, alertId: undefined }),
      'Alert packet field "alertId" is missing',
    ],
    [
      v11Packet({ diaSource: commonSource({ midpointMjdTai: undefined }) }),
      'Alert packet field "diaSource.midpointMjdTai" is missing',
    ],
    [
      v11Packet({ diaSource: commonSource({ ra: NaN }) }),
      'Alert packet field "diaSource.ra" is not a finite number: "NaN"',
    ],
    [
      v11Packet({ diaSource: commonSource({ dec: "12" }) }),
      'Alert packet field "diaSource.dec" is not a finite number: "12"',
    ],
    [
      v11Packet({ diaSource: commonSource({ psfFlux: "12" }) }),
      'Alert packet field "diaSource.psfFlux" is not a number: "12"',
    ],
    [
      v11Packet({ diaSource: commonSource({ band: 3 }) }),
      'Alert packet field "diaSource.band" is not a string: "3"',
    ],
    [
      v11Packet({ prvDiaSources: {} }),
      'Alert packet field "prvDiaSources" is not an array: a record',
    ],
    [
      v11Packet({ prvDiaSources: [historyEntry(1n, null, 6), { diaSourceId: 2n }] }),
      'Alert packet field "prvDiaSources[1].midpointMjdTai" is missing',
    ],
    [
      v11Packet({ prvDiaSources: [{ ...historyEntry(1n, null, 6), diaSourceId: null }] }),
      'Alert packet field "prvDiaSources[0].diaSourceId" is not an integer: "null"',
    ],
    [
      v11Packet({ cutoutScience: "FITS" }),
      'Alert packet field "cutoutScience" is not bytes: "FITS"',
    ],
  ];
  for (const [packet, message] of cases) {
    assert.throws(() => toAlertRecord(packet, "11.0"), { name: "TypeError", message });
  }
});

Deno.test("toAlertRecord() reads ssObjectReassocTimeMjdTai when an input carries it", () => {
  const record = toAlertRecord(
    v11Packet({
      diaSource: commonSource({ ssObjectReassocTimeMjdTai: 61106.5 }),
      prvDiaSources: [
        { ...historyEntry(1n, SS_ID, 61000), ssObjectReassocTimeMjdTai: 61101.25 },
        { ...historyEntry(2n, SS_ID, 61000), ssObjectReassocTimeMjdTai: NaN },
      ],
    }),
    "11.0",
  );
  assert.equal(record.ssObjectReassocTimeMjdTai, 61106.5);
  assert.equal(record.history[0]?.ssObjectReassocTimeMjdTai, 61101.25);
  assert.equal(record.history[1]?.ssObjectReassocTimeMjdTai, null);
});

Deno.test("toAlertRecord() passes cutouts through without copying", () => {
  const science = Buffer.from("SIMPLE  =                    T");
  const template = new Uint8Array([1, 2, 3]);
  const record = toAlertRecord(
    v11Packet({ cutoutScience: science, cutoutTemplate: template, cutoutDifference: null }),
    "11.0",
  );
  assert.equal(record.cutoutScience, science);
  assert.equal(record.cutoutTemplate, template);
  assert.equal(record.cutoutDifference, null);
});

Deno.test('toAlertRecord() stores source "file" unless told otherwise', () => {
  assert.equal(toAlertRecord(v11Packet(), "11.0").source, "file");
  assert.equal(toAlertRecord(v11Packet(), "11.0", { source: "mock" }).source, "mock");
});

Deno.test("toAlertRecord() does not touch the packet", () => {
  const packet = v11Packet();
  const before = structuredClone(packet);
  toAlertRecord(packet, "11.0");
  assert.deepEqual(packet, before);
});

/** Decode an Avro Object Container File with its own schema, `long` as `bigint`. */
async function readOcf(path: string): Promise<LsstAlertPacket[]> {
  const readerSchema = createAvroType(avro.extractFileHeader(path).meta["avro.schema"]);
  const decoder = avro.createFileDecoder(path, { readerSchema });
  const records: LsstAlertPacket[] = [];
  await new Promise<void>((resolve, reject) => {
    decoder.on("data", (record: LsstAlertPacket) => records.push(record));
    decoder.on("end", resolve);
    decoder.on("error", reject);
  });
  return records;
}

testWith(fixturesDir() !== null, "the shared fixtures (../shared/fixtures)", {
  name: "toAlertRecord() maps every official sample alert (lsst/ocf/fakeAlert-v*.avro)",
  async fn() {
    const dir = join(fixturesDir() as string, "lsst", "ocf");
    const versions = [...Deno.readDirSync(dir)]
      .map((entry) => /^fakeAlert-v(\d+\.\d+)\.avro$/.exec(entry.name)?.[1])
      .filter((version): version is string => version !== undefined)
      .sort();
    assert.ok(versions.length >= 9, `found ${versions.join(", ")}`);
    for (const version of versions) {
      const packets = await readOcf(join(dir, `fakeAlert-v${version}.avro`));
      assert.equal(packets.length, 1, version);
      const record = toAlertRecord(packets[0] as LsstAlertPacket, version);
      assert.equal(record.alertId, 1231321321n, version);
      assert.equal(record.diaSourceId, 281323062375219200n, version);
      assert.equal(record.schemaVersion, version);
      assert.equal(record.ra, 351.570546978, version);
      assert.equal(record.dec, 0.126243049656, version);
      assert.equal(record.band, "r", version);
      assert.equal(record.visit, 1n, version);
      assert.equal(record.detector, 42, version);
      assert.equal(record.diaObjectId, null, version);
      assert.equal(record.ssObjectId, null, version);
      assert.deepEqual(
        record.history.map((h) => [h.diaSourceId, h.ssObjectId]),
        [[281323062375219198n, null], [281323062375219199n, null]],
        version,
      );
      if (version.startsWith("7.")) {
        assert.equal(record.observationReason, null, version);
      } else {
        assert.equal(record.midpointMjdTai, 60902.993305483615, version);
        assert.deepEqual(record.history.map((h) => h.midpointMjdTai), [
          60901.993305483615,
          60900.993305483615,
        ]);
      }
    }
  },
});
