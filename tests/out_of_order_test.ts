/**
 * Detections do not depend on arrival order: the same alerts ingested in shuffled orders (as
 * parallel Kafka partitions or arbitrarily named files deliver them) end with exactly the
 * detections of an in-order pass, and the same states and alert flags.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type AlertRecord,
  type AlertSource,
  createAvroType,
  FileSource,
  ingest,
  loadSchemaVersion,
  MockSource,
  type SourcedAlert,
  SQLiteStorage,
  writeOcfFile,
} from "../mod.ts";
import { fixturesDir, queryDatabase, testWith, withTempDir } from "./_support.ts";

const COUNT = 2500;

/** The mock's alerts, fresh objects each call (tracking writes into them). */
async function mockAlerts(seed: number): Promise<AlertRecord[]> {
  const alerts: AlertRecord[] = [];
  for await (const item of new MockSource({ count: COUNT, seed, cutouts: false }).alerts()) {
    if (item.kind === "alert") alerts.push(item.alert);
  }
  return alerts;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** A source over records in the given order; one stream, positions in that order. */
function listSource(alerts: readonly AlertRecord[]): AlertSource {
  return {
    name: "list",
    params: {},
    async *alerts(): AsyncGenerator<SourcedAlert> {
      let i = 0;
      for (const alert of alerts) {
        yield { kind: "alert", alert, cursor: { stream: "s", position: String(i++) } };
      }
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
}

/** What must not depend on order. */
function outcome(path: string): Record<string, unknown> {
  return {
    detections: queryDatabase(
      path,
      `SELECT dia_source_id, reason, old_ss_object_id, new_ss_object_id, alert_dia_source_id
       FROM reassociations ORDER BY dia_source_id, alert_dia_source_id`,
    ),
    sources: queryDatabase(
      path,
      `SELECT dia_source_id, dia_object_id, ss_object_id, first_seen_mjd, last_seen_mjd,
              times_seen, runs FROM processed_sources ORDER BY dia_source_id`,
    ),
    flags: queryDatabase(
      path,
      `SELECT dia_source_id, is_reassociation, reassociation_reason FROM alerts
       ORDER BY dia_source_id`,
    ),
  };
}

Deno.test("alerts ingested in shuffled orders end with the in-order detections, states and flags", async () => {
  await withTempDir("lsst-order-", async (dir) => {
    const truth = new MockSource({ count: COUNT, seed: 4, cutouts: false }).groundTruth();
    const inOrder = join(dir, "in-order.db");
    {
      await using storage = new SQLiteStorage(inOrder);
      await ingest(listSource(await mockAlerts(4)), storage, { batchSize: 100 });
    }
    const reference = outcome(inOrder);
    const expected = truth.detections.map((d) => ({
      dia_source_id: d.diaSourceId,
      reason: d.reason,
      old_ss_object_id: d.oldSsObjectId,
      new_ss_object_id: d.newSsObjectId,
      alert_dia_source_id: d.alertDiaSourceId,
    })).sort((a, b) =>
      a.dia_source_id === b.dia_source_id
        ? Number(a.alert_dia_source_id - b.alert_dia_source_id)
        : a.dia_source_id < b.dia_source_id
        ? -1
        : 1
    );
    assert.deepEqual(reference.detections, expected, "the in-order pass finds the mock's truth");
    assert.ok(expected.length > 50);

    const orders: Array<[string, (alerts: AlertRecord[]) => AlertRecord[], number]> = [
      ["reversed", (a) => a.reverse(), 100],
      ["shuffled, seed 1", (a) => shuffled(a, 1), 100],
      ["shuffled, seed 2, one alert per batch", (a) => shuffled(a, 2), 1],
      ["shuffled, seed 3, one batch", (a) => shuffled(a, 3), 5000],
      // Like three Kafka partitions read one after the other.
      [
        "round-robin partitions read in turn",
        (a) => [0, 1, 2].flatMap((p) => a.filter((_, i) => i % 3 === p)),
        200,
      ],
    ];
    for (const [label, reorder, batchSize] of orders) {
      const path = join(dir, `${label.replaceAll(/\W+/g, "-")}.db`);
      await using storage = new SQLiteStorage(path);
      const run = await ingest(listSource(reorder(await mockAlerts(4))), storage, { batchSize });
      assert.equal(run.alertsIngested, COUNT, label);
      assert.equal(run.reassociationsDetected, expected.length, `${label}: net detections`);
      assert.deepEqual(outcome(path), reference, label);
    }
  });
});

Deno.test("a late observation that splits a constant run is detected both ways, and a replay undoes it", async () => {
  // DIASource D is unassociated in alerts at t=1, 2, 4; an alert at t=3 shows it linked to S.
  // In order that is new_association at t=3 and association_removed at t=4, wherever t=3 lands.
  const D = 170_000_000_000_000_001n;
  const S = 21_000_000_000_000_007n;
  const alert = (id: bigint, t: number, ss: bigint | null): AlertRecord => ({
    diaSourceId: id,
    alertId: id,
    diaObjectId: 99n,
    ssObjectId: null,
    ssObjectName: null,
    objectName: null,
    ssObjectReassocTimeMjdTai: null,
    ra: 1,
    dec: 2,
    raErr: null,
    decErr: null,
    midpointMjdTai: t,
    band: "r",
    psfFlux: null,
    psfFluxErr: null,
    snr: null,
    extendedness: null,
    reliability: null,
    visit: null,
    detector: null,
    observationReason: null,
    targetName: null,
    schemaVersion: "11.0",
    source: "test",
    survey: "lsst",
    history: id === D
      ? []
      : [{ diaSourceId: D, ssObjectId: ss, midpointMjdTai: 1, ssObjectReassocTimeMjdTai: null }],
    properties: null,
    snapshot: false,
    cutoutScience: null,
    cutoutTemplate: null,
    cutoutDifference: null,
    isReassociation: false,
    reassociationReason: null,
    reassociations: [],
  });
  const make =
    () => [alert(D, 1, null), alert(D + 1n, 2, null), alert(D + 3n, 4, null), alert(D + 2n, 3, S)];
  for (const order of [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]]) {
    await using storage = new SQLiteStorage(":memory:");
    const alerts = make();
    for (const i of order) await ingest(listSource([alerts[i] as AlertRecord]), storage);
    const found = (await storage.listReassociations()).map((d) => [d.reason, d.alertDiaSourceId])
      .sort();
    assert.deepEqual(
      found,
      [["association_removed", D + 3n], ["new_association", D + 2n]],
      `order ${order}`,
    );
    const [flags] = await Array.fromAsync(storage.iterateRows("alerts")).then((rows) =>
      rows.filter((r) => r.dia_source_id === D + 2n)
    );
    assert.equal(flags?.is_reassociation, 1n, `order ${order}`);
  }
});

testWith(fixturesDir() !== null, "the shared fixtures (../shared/fixtures)", {
  name: "files named against time order give the in-order detections",
  async fn() {
    const schema = await loadSchemaVersion(join(fixturesDir() as string, "lsst/schema"), "11.0");
    const type = createAvroType(schema);
    const packets = [...new MockSource({ count: COUNT, seed: 6, cutouts: false }).packets()]
      .map((p) => p.packet);
    await withTempDir("lsst-order-files-", async (dir) => {
      // Ten files whose names sort against time: the newest alerts are read first.
      const files = join(dir, "files");
      await Deno.mkdir(files);
      for (let k = 0; k < 10; k++) {
        const slice = packets.slice(k * (COUNT / 10), (k + 1) * (COUNT / 10));
        await writeOcfFile(
          join(files, `${String(9 - k).padStart(2, "0")}.avro`),
          JSON.stringify(schema),
          type,
          slice,
        );
      }
      const inOrder = join(dir, "in-order.db");
      {
        await using storage = new SQLiteStorage(inOrder);
        await ingest(listSource(await mockAlerts(6)), storage);
      }
      const reversed = join(dir, "files.db");
      {
        await using storage = new SQLiteStorage(reversed);
        const run = await ingest(new FileSource({ path: files }), storage);
        assert.equal(run.alertsIngested, COUNT);
      }
      const a = outcome(inOrder);
      const b = outcome(reversed);
      assert.deepEqual(b.detections, a.detections);
      assert.deepEqual(b.sources, a.sources);
      assert.deepEqual(b.flags, a.flags);
    });
  },
});
