import assert from "node:assert/strict";
import { join } from "node:path";
import { parseExact } from "../model/exact_json.ts";
import { fixturesDir, testWith } from "../tests/_support.ts";
import {
  type AntaresAlertResource,
  parseAlertResource,
  toAntaresAlertRecord,
} from "./antares_alert.ts";

const FIXTURES = fixturesDir();
const SOURCE_ID = 170587117485817955n; // above 2^53: a JS number cannot hold it
const SS_ID = 21000000000011111n;

interface ClientAlert {
  alert_id: string;
  mjd: number;
  processed_at: string | null;
  properties: Record<string, unknown>;
}

async function fixtureAlerts(): Promise<AntaresAlertResource[]> {
  const text = await Deno.readTextFile(join(FIXTURES!, "antares", "lsst", "alerts.json"));
  return (parseExact(text) as ClientAlert[]).map((alert) => ({
    id: alert.alert_id,
    mjd: alert.mjd,
    processedAt: alert.processed_at,
    properties: alert.properties,
  }));
}

/** The first real fixture alert, trimmed to the mapped columns. */
function lsstAlert(properties: Record<string, unknown> = {}): AntaresAlertResource {
  return {
    id: `lsst:${SOURCE_ID}`,
    mjd: 61217.42118006405,
    processedAt: "2026-06-26T10:27:01.585000",
    properties: {
      ant_survey: 4,
      lsst_diaSource_diaSourceId: SOURCE_ID,
      lsst_diaSource_diaObjectId: SOURCE_ID,
      lsst_diaSource_ssObjectId: 0,
      lsst_diaSource_ra: 62.45761131986638,
      lsst_diaSource_dec: -48.48149141631282,
      lsst_diaSource_raErr: 1.1499909305712208e-05,
      lsst_diaSource_decErr: 1.1530524716363288e-05,
      lsst_diaSource_midpointMjdTai: 61217.42118006405,
      lsst_diaSource_band: "g",
      lsst_diaSource_psfFlux: 2665.041259765625,
      lsst_diaSource_psfFluxErr: 139.14035034179688,
      lsst_diaSource_snr: 18.848682403564453,
      lsst_diaSource_extendedness: 0.2799968123435974,
      lsst_diaSource_reliability: 0.9421387314796448,
      lsst_diaSource_visit: 2026062500651,
      lsst_diaSource_detector: 160,
      lsst_observation_reason: "ddf_edfs_a",
      lsst_target_name: "ddf_edfs_a, lowdust",
      ...properties,
    },
  };
}

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "toAntaresAlertRecord() maps all 16 real ANTARES alerts with exact ids",
  async fn() {
    const alerts = await fixtureAlerts();
    assert.equal(alerts.length, 16);
    for (const alert of alerts) {
      const p = alert.properties;
      const record = toAntaresAlertRecord(alert);
      assert.ok(record !== null, alert.id);
      assert.equal(`lsst:${record.diaSourceId}`, alert.id);
      assert.equal(record.diaSourceId, p.lsst_diaSource_diaSourceId);
      assert.equal(record.alertId, record.diaSourceId);
      assert.equal(record.diaObjectId, p.lsst_diaSource_diaObjectId);
      assert.equal(typeof record.diaObjectId, "bigint");
      assert.equal(p.lsst_diaSource_ssObjectId, 0);
      assert.equal(record.ssObjectId, null);
      assert.equal(record.midpointMjdTai, p.lsst_diaSource_midpointMjdTai);
      assert.equal(record.ra, p.lsst_diaSource_ra);
      assert.equal(record.dec, p.lsst_diaSource_dec);
      assert.equal(record.band, p.lsst_diaSource_band);
      assert.equal(record.psfFlux, p.lsst_diaSource_psfFlux);
      assert.equal(record.psfFluxErr, p.lsst_diaSource_psfFluxErr);
      assert.equal(record.snr, p.lsst_diaSource_snr);
      assert.equal(record.reliability, p.lsst_diaSource_reliability);
      assert.equal(record.visit, BigInt(p.lsst_diaSource_visit as number));
      assert.equal(record.detector, p.lsst_diaSource_detector);
      assert.equal(record.observationReason, p.lsst_observation_reason);
      assert.equal(record.targetName, p.lsst_target_name);
      assert.equal(record.schemaVersion, "antares");
      assert.equal(record.source, "antares");
      assert.equal(record.survey, "lsst");
      assert.equal(record.snapshot, true);
      assert.deepEqual(record.history, []);
      assert.equal(record.cutoutScience, null);
      assert.equal(record.isReassociation, false);
    }
    const first = toAntaresAlertRecord(alerts[0]!)!;
    assert.equal(first.diaSourceId, 170587117485817955n);
    assert.equal(first.diaObjectId, 170587117485817955n);
    assert.equal(first.visit, 2026062500651n);
    assert.equal(first.band, "g");
    assert.equal(first.psfFlux, 2665.041259765625);
    assert.equal(first.midpointMjdTai, 61217.42118006405);
    // Every alert of the locus belongs to its one DIAObject.
    const objects = new Set(alerts.map((alert) => toAntaresAlertRecord(alert)!.diaObjectId));
    assert.deepEqual([...objects], [170587117485817955n]);
  },
});

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "toAntaresAlertRecord() keeps every real property as exact JSON",
  async fn() {
    for (const alert of await fixtureAlerts()) {
      const record = toAntaresAlertRecord(alert, { source: "antares-replay" })!;
      assert.equal(record.source, "antares-replay");
      const properties = parseExact(record.properties!) as Record<string, unknown>;
      assert.deepEqual(properties, alert.properties);
      assert.equal(typeof properties.lsst_diaSource_diaSourceId, "bigint");
      assert.equal(`lsst:${properties.lsst_diaSource_diaSourceId}`, alert.id);
    }
  },
});

Deno.test("toAntaresAlertRecord() returns null for a ZTF alert", () => {
  const ztf: AntaresAlertResource = {
    id: "ztf:2987654321015015001",
    mjd: 61217.5,
    processedAt: null,
    properties: { ant_survey: 1, ztf_candid: 2987654321015015001n, ztf_ra: 62.45 },
  };
  assert.equal(toAntaresAlertRecord(ztf), null);
  assert.equal(toAntaresAlertRecord({ ...ztf, id: "ztf_candidate:2987654321015015001" }), null);
});

Deno.test("toAntaresAlertRecord() rejects an lsst: id whose ant_survey is not 4", () => {
  assert.throws(
    () => toAntaresAlertRecord(lsstAlert({ ant_survey: 1 })),
    new TypeError(
      `ANTARES alert "lsst:${SOURCE_ID}" is not an LSST alert: "ant_survey" is "1", not "4"`,
    ),
  );
  // Absent ant_survey: the id alone decides; a BSON int64 4 counts as 4.
  assert.equal(toAntaresAlertRecord(lsstAlert({ ant_survey: undefined }))?.diaSourceId, SOURCE_ID);
  assert.equal(toAntaresAlertRecord(lsstAlert({ ant_survey: 4n }))?.diaSourceId, SOURCE_ID);
});

Deno.test("toAntaresAlertRecord() throws when the lsst: id and lsst_diaSource_diaSourceId differ", () => {
  assert.throws(
    () => toAntaresAlertRecord(lsstAlert({ lsst_diaSource_diaSourceId: SOURCE_ID + 1n })),
    new TypeError(
      `ANTARES alert id "lsst:${SOURCE_ID}" differs from "properties.lsst_diaSource_diaSourceId": ` +
        `"${SOURCE_ID + 1n}"`,
    ),
  );
  // Absent, the id is enough.
  const record = toAntaresAlertRecord(lsstAlert({ lsst_diaSource_diaSourceId: undefined }));
  assert.equal(record?.diaSourceId, SOURCE_ID);
});

Deno.test("toAntaresAlertRecord() rejects ids given as numbers beyond 2^53", () => {
  // What plain JSON.parse makes of 170587117485817955.
  const rounded = Number(SOURCE_ID);
  for (const key of ["lsst_diaSource_diaSourceId", "lsst_diaSource_diaObjectId"]) {
    assert.throws(
      () => toAntaresAlertRecord(lsstAlert({ [key]: rounded })),
      new TypeError(
        `Alert packet field "properties.${key}" is beyond 2^53 and lost precision (decode Avro ` +
          `long as bigint): "${rounded}"`,
      ),
    );
  }
  assert.throws(
    () => toAntaresAlertRecord(lsstAlert({ lsst_diaSource_ssObjectId: Number(SS_ID) })),
    /properties\.lsst_diaSource_ssObjectId" is beyond 2\^53/,
  );
});

Deno.test("toAntaresAlertRecord() accepts safe-integer numbers and bigints for ids", () => {
  const record = toAntaresAlertRecord({
    ...lsstAlert({
      lsst_diaSource_diaSourceId: 1234567,
      lsst_diaSource_diaObjectId: 7654321,
      lsst_diaSource_ssObjectId: SS_ID,
      lsst_diaSource_visit: 2026062500651n,
      lsst_diaSource_detector: 160n,
    }),
    id: "lsst:1234567",
  })!;
  assert.equal(record.diaSourceId, 1234567n);
  assert.equal(record.diaObjectId, 7654321n);
  assert.equal(record.ssObjectId, SS_ID);
  assert.equal(record.visit, 2026062500651n);
  assert.equal(record.detector, 160);
});

Deno.test("toAntaresAlertRecord() rejects an lsst: id without a valid diaSourceId", () => {
  for (
    const id of ["lsst:", "lsst:abc", "lsst:-5", "lsst:0", "lsst:12 ", "lsst:9223372036854775808"]
  ) {
    assert.throws(
      () => toAntaresAlertRecord({ ...lsstAlert({ lsst_diaSource_diaSourceId: undefined }), id }),
      new TypeError(`ANTARES alert id is not "lsst:<diaSourceId>": ${JSON.stringify(id)}`),
    );
  }
});

Deno.test("toAntaresAlertRecord() treats 0 and absent association ids as none", () => {
  const record = toAntaresAlertRecord(
    lsstAlert({ lsst_diaSource_diaObjectId: 0n, lsst_diaSource_ssObjectId: undefined }),
  )!;
  assert.equal(record.diaObjectId, null);
  assert.equal(record.ssObjectId, null);
  const fallback = toAntaresAlertRecord(
    lsstAlert({ lsst_diaSource_diaObjectId: undefined, lsst_diaObject_diaObjectId: SOURCE_ID }),
  )!;
  assert.equal(fallback.diaObjectId, SOURCE_ID);
  assert.equal(
    toAntaresAlertRecord(lsstAlert({ lsst_diaSource_ssObjectId: null }))!.ssObjectId,
    null,
  );
});

Deno.test("toAntaresAlertRecord() falls back to mjd when lsst_diaSource_midpointMjdTai is absent", () => {
  const alert = lsstAlert({ lsst_diaSource_midpointMjdTai: undefined });
  assert.equal(toAntaresAlertRecord({ ...alert, mjd: 61217.5 })!.midpointMjdTai, 61217.5);
  assert.throws(
    () => toAntaresAlertRecord({ ...alert, mjd: Number.NaN }),
    new TypeError(`Alert packet field "mjd" is not a finite number: "NaN"`),
  );
});

Deno.test("toAntaresAlertRecord() maps NaN and null optional floats to null and requires ra, dec", () => {
  const record = toAntaresAlertRecord(lsstAlert({
    lsst_diaSource_extendedness: Number.NaN,
    lsst_diaSource_reliability: null,
    lsst_diaSource_snr: undefined,
    lsst_diaSource_psfFlux: 2665n, // a whole flux a Python producer wrote as an integer
  }))!;
  assert.equal(record.extendedness, null);
  assert.equal(record.reliability, null);
  assert.equal(record.snr, null);
  assert.equal(record.psfFlux, 2665);
  assert.throws(
    () => toAntaresAlertRecord(lsstAlert({ lsst_diaSource_ra: undefined })),
    new TypeError(`Alert packet field "properties.lsst_diaSource_ra" is missing`),
  );
  assert.throws(
    () => toAntaresAlertRecord(lsstAlert({ lsst_diaSource_dec: Number.NaN })),
    new TypeError(
      `Alert packet field "properties.lsst_diaSource_dec" is not a finite number: "NaN"`,
    ),
  );
  assert.throws(
    () => toAntaresAlertRecord(lsstAlert({ lsst_diaSource_band: 3 })),
    new TypeError(`Alert packet field "properties.lsst_diaSource_band" is not a string: "3"`),
  );
});

Deno.test("parseAlertResource() reads a JSON:API alert and skips other types", () => {
  const resource = parseAlertResource({
    type: "alert",
    id: `lsst:${SOURCE_ID}`,
    attributes: {
      mjd: 61217.42118006405,
      processed_at: "2026-06-26T10:27:01.585000",
      grav_wave_events: [],
      properties: { lsst_diaSource_diaSourceId: SOURCE_ID },
    },
  });
  assert.deepEqual(resource, {
    id: `lsst:${SOURCE_ID}`,
    mjd: 61217.42118006405,
    processedAt: "2026-06-26T10:27:01.585000",
    properties: { lsst_diaSource_diaSourceId: SOURCE_ID },
  });
  assert.equal(parseAlertResource({ type: "locus", id: "ANT2026x", attributes: {} }), null);
});

Deno.test("parseAlertResource() names the field that is wrong", () => {
  const cases: Array<[unknown, string]> = [
    [null, `ANTARES resource field "data[2]" is not a record: "null"`],
    [{ id: "lsst:1" }, `ANTARES resource field "data[2].type" is missing`],
    [{ type: "alert", attributes: {} }, `ANTARES resource field "data[2].id" is missing`],
    [{ type: "alert", id: "lsst:1" }, `ANTARES resource field "data[2].attributes" is missing`],
    [
      { type: "alert", id: "lsst:1", attributes: { mjd: "61217", properties: {} } },
      `ANTARES resource field "data[2].attributes.mjd" is not a finite number: "61217"`,
    ],
    [
      { type: "alert", id: "lsst:1", attributes: { mjd: 61217, properties: [] } },
      `ANTARES resource field "data[2].attributes.properties" is not a record: an array`,
    ],
    [
      { type: "alert", id: "lsst:1", attributes: { mjd: 61217, properties: {}, processed_at: 5 } },
      `ANTARES resource field "data[2].attributes.processed_at" is not a timestamp: "5"`,
    ],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => parseAlertResource(value, "data[2]"), new TypeError(message));
  }
});
