import assert from "node:assert/strict";
import { IngestionPipeline } from "./ingestion_pipeline.ts";
import { AlertParseError, StorageError } from "../model/errors.ts";
import { SQLiteStorage } from "../storage/sqlite_storage.ts";
import type { BatchOutcome, BatchWrite, Storage } from "../storage/storage.ts";
import type { AlertsOptions, AlertSource, SourcedAlert } from "../sources/alert_source.ts";
import { makeAlert } from "../tests/_alert_factory.ts";

const FIRST = 170_587_117_485_817_955n;

/**
 * A scripted in-memory source: the pipeline is the unit under test here, so the source only has
 * to honour the contract (cursor, resume, limit, signal). Real sources are tested on their own.
 */
class ListSource implements AlertSource {
  readonly name = "list";
  readonly params = {};
  pulled = 0;
  disposed = 0;
  #items: SourcedAlert[];
  #onYield: (index: number) => void | Promise<void>;

  constructor(
    count: number,
    options: { bad?: number[]; onYield?: (index: number) => void | Promise<void> } = {},
  ) {
    this.#onYield = options.onYield ?? (() => {});
    this.#items = Array.from({ length: count }, (_, i): SourcedAlert => {
      const cursor = { stream: "list.avro", position: String(i) };
      if (options.bad?.includes(i)) {
        return {
          kind: "rejected",
          error: new AlertParseError(`Cannot decode record ${i} in "list.avro": bad bytes`, cursor),
          raw: new Uint8Array([0xde, 0xad, i]),
          cursor,
        };
      }
      const id = FIRST + BigInt(i);
      const history = i > 0 ? [[id - 1n, i % 7 === 0 ? 555n : 0n] as const] : [];
      return {
        kind: "alert",
        alert: makeAlert(id, { midpointMjdTai: 61000 + i / 100, history }),
        cursor,
      };
    });
  }

  async *alerts(options: AlertsOptions = {}): AsyncGenerator<SourcedAlert> {
    const after = Number(options.resumeFrom?.get("list.avro") ?? -1);
    let yielded = 0;
    for (let i = after + 1; i < this.#items.length; i++) {
      if (options.signal?.aborted) return;
      if (options.limit !== undefined && yielded >= options.limit) return;
      this.pulled++;
      yielded++;
      await this.#onYield(i);
      yield this.#items[i] as SourcedAlert;
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.disposed++;
    return Promise.resolve();
  }
}

/** Real SQLite storage whose writeBatch the test can intercept. */
function interceptWrites(
  inner: SQLiteStorage,
  writeBatch: (runId: number, batch: BatchWrite) => Promise<BatchOutcome>,
): Storage {
  return {
    location: inner.location,
    initialize: () => inner.initialize(),
    beginRun: (source, params) => inner.beginRun(source, params),
    loadCursors: (source) => inner.loadCursors(source),
    loadCursorIdentities: (source) => inner.loadCursorIdentities(source),
    discardCursors: (source, streams) => inner.discardCursors(source, streams),
    knownAlertIds: (ids) => inner.knownAlertIds(ids),
    rawAlert: (id) => inner.rawAlert(id),
    writeBatch,
    finishRun: (runId, status, error) => inner.finishRun(runId, status, error),
    listRuns: (limit) => inner.listRuns(limit),
    listReassociations: (query) => inner.listReassociations(query),
    listQuarantine: (query) => inner.listQuarantine(query),
    quarantineRaw: (id) => inner.quarantineRaw(id),
    stats: () => inner.stats(),
    iterateRows: (table, options) => inner.iterateRows(table, options),
    schemaById: (id) => inner.schemaById(id),
    saveSchema: (schema) => inner.saveSchema(schema),
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
}

Deno.test("run() stores every alert with its cursor and completes", async () => {
  await using storage = new SQLiteStorage(":memory:");
  const source = new ListSource(95);
  const progress: number[] = [];
  const run = await new IngestionPipeline(source, storage, { batchSize: 20 }).run({
    onProgress: (p) => progress.push(p.alertsIngested),
  });
  assert.equal(run.status, "completed");
  assert.equal(run.recordsRead, 95);
  assert.equal(run.alertsIngested, 95);
  assert.equal(run.newSources, 95);
  assert.deepEqual(progress, [20, 40, 60, 80, 95]);
  assert.deepEqual(await storage.loadCursors("list"), new Map([["list.avro", "94"]]));
  // Alert i shows DIASource i-1 linked to 555 whenever i is a multiple of 7 (7, 14 … 91).
  assert.equal(run.reassociationsDetected, 13);
});

Deno.test("run() awaits each write before pulling more records (backpressure)", async () => {
  await using inner = new SQLiteStorage(":memory:");
  const source = new ListSource(100);
  const pulledAtWrite: number[] = [];
  const slow = interceptWrites(inner, async (runId, batch) => {
    pulledAtWrite.push(source.pulled);
    await new Promise((resolve) => setTimeout(resolve, 5));
    return inner.writeBatch(runId, batch);
  });
  await new IngestionPipeline(source, slow, { batchSize: 25 }).run();
  assert.deepEqual(pulledAtWrite, [25, 50, 75, 100]);
});

Deno.test("run() stops on abort without moving the cursor past unstored records, then resumes", async () => {
  await using storage = new SQLiteStorage(":memory:");
  const controller = new AbortController();
  const source = new ListSource(100, {
    onYield: (i) => {
      if (i === 34) controller.abort("SIGINT");
    },
  });
  const pipeline = new IngestionPipeline(source, storage, { batchSize: 10 });
  const first = await pipeline.run({ signal: controller.signal });
  assert.equal(first.status, "interrupted");
  assert.match(first.error ?? "", /SIGINT/);
  assert.equal(first.alertsIngested, 35);
  assert.deepEqual(await storage.loadCursors("list"), new Map([["list.avro", "34"]]));
  assert.equal((await storage.stats()).rows.alerts, 35);

  const second = await pipeline.run();
  assert.equal(second.status, "completed");
  assert.equal(second.recordsRead, 65, "it resumed after the stored cursor");
  assert.equal(second.alertsSkipped, 0);
  assert.equal((await storage.stats()).rows.alerts, 100);
  assert.deepEqual(await storage.loadCursors("list"), new Map([["list.avro", "99"]]));

  // The same detections as one uninterrupted run.
  await using whole = new SQLiteStorage(":memory:");
  const reference = await new IngestionPipeline(new ListSource(100), whole).run();
  assert.equal(
    first.reassociationsDetected + second.reassociationsDetected,
    reference.reassociationsDetected,
  );
});

Deno.test("run() quarantines a bad record, counts it and keeps the good ones around it", async () => {
  await using storage = new SQLiteStorage(":memory:");
  const run = await new IngestionPipeline(new ListSource(10, { bad: [3, 4] }), storage, {
    batchSize: 4,
  }).run();
  assert.equal(run.status, "completed");
  assert.equal(run.alertsIngested, 8);
  assert.equal(run.alertsQuarantined, 2);
  const stats = await storage.stats();
  assert.equal(stats.rows.alerts, 8);
  assert.equal(stats.rows.quarantine, 2);
  assert.deepEqual(await storage.loadCursors("list"), new Map([["list.avro", "9"]]));
  const [runRow] = await storage.listRuns(1);
  assert.equal(runRow?.alertsQuarantined, 2);
});

Deno.test("run() honours limit and duration", async () => {
  await using storage = new SQLiteStorage(":memory:");
  const limited = await new IngestionPipeline(new ListSource(100), storage, { batchSize: 7 }).run({
    limit: 25,
  });
  assert.equal(limited.alertsIngested, 25);
  assert.equal(limited.status, "completed");

  await using other = new SQLiteStorage(":memory:");
  const slow = new ListSource(1000, { onYield: () => new Promise((r) => setTimeout(r, 2)) });
  const started = performance.now();
  const timed = await new IngestionPipeline(slow, other, { batchSize: 10 }).run({
    durationSeconds: 0.3,
  });
  const elapsed = performance.now() - started;
  assert.equal(timed.status, "completed");
  assert.ok(timed.alertsIngested > 0 && timed.alertsIngested < 1000);
  assert.ok(elapsed < 2000, `stopped after ${elapsed} ms`);
});

Deno.test("run() lets the duration timer fire even when the source never waits", async () => {
  await using storage = new SQLiteStorage(":memory:");
  // ListSource without onYield resolves every record in a microtask, like the mock.
  const run = await new IngestionPipeline(new ListSource(300_000), storage, { batchSize: 100 }).run(
    {
      durationSeconds: 0.2,
    },
  );
  assert.equal(run.status, "completed");
  assert.ok(run.recordsRead < 300_000, `read ${run.recordsRead} records`);
});

Deno.test("run() stores a partial batch once its first record is maxBatchDelayMs old", async () => {
  await using storage = new SQLiteStorage(":memory:");
  const storedWhenFourthPulled: number[] = [];
  let stored = 0;
  const source = new ListSource(5, {
    onYield: async (i) => {
      if (i === 3) {
        // A quiet stream: the fourth record comes long after the first three.
        await new Promise((resolve) => setTimeout(resolve, 400));
        storedWhenFourthPulled.push(stored);
      }
    },
  });
  const run = await new IngestionPipeline(source, storage, { batchSize: 100, maxBatchDelayMs: 50 })
    .run({ onProgress: (p) => (stored = p.alertsIngested) });
  assert.deepEqual(storedWhenFourthPulled, [3]);
  assert.equal(run.alertsIngested, 5);
});

Deno.test("run() stores a message's position only with its last record, and loci with the batch", async () => {
  await using storage = new SQLiteStorage(":memory:");
  const cursorsAtWrite: string[] = [];
  const writes = interceptWrites(storage, async (runId, batch) => {
    cursorsAtWrite.push(batch.cursors.map((c) => c.position).join(",") || "-");
    return await storage.writeBatch(runId, batch);
  });
  const message = (offset: number, count: number): SourcedAlert[] => [
    ...Array.from({ length: count }, (_, i): SourcedAlert => ({
      kind: "alert",
      alert: makeAlert(FIRST + BigInt(offset * 10 + i)),
      cursor: { stream: "t/0", position: String(offset), more: true },
    })),
    {
      kind: "locus",
      locus: {
        locusId: `ANT${offset}`,
        ra: 1,
        dec: 2,
        htm16: null,
        tags: ["t"],
        catalogs: [],
        properties: "{}",
        newestAlertId: null,
      },
      cursor: { stream: "t/0", position: String(offset) },
    },
  ];
  const source: AlertSource = {
    name: "multi",
    params: {},
    async *alerts() {
      yield* message(7, 3);
      yield* message(8, 1);
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  const run = await new IngestionPipeline(source, writes, { batchSize: 2 }).run();
  // Batches: [a a] [a locus7] [a locus8]: the first must not mark offset 7 done.
  assert.deepEqual(cursorsAtWrite, ["-", "7", "8"]);
  assert.equal(run.recordsRead, 4, "loci are not records");
  assert.equal(run.alertsIngested, 4);
  assert.equal((await storage.stats()).rows.loci, 2);

  // A limit inside a message still finishes that message, so the next run gets past it.
  await using other = new SQLiteStorage(":memory:");
  const limited = await new IngestionPipeline(source, other, { batchSize: 2 }).run({ limit: 2 });
  assert.equal(limited.recordsRead, 3);
  assert.deepEqual(await other.loadCursors("multi"), new Map([["t/0", "7"]]));
  assert.equal((await other.stats()).rows.loci, 1);
});

Deno.test("run() records a storage failure as failed and rethrows it", async () => {
  await using inner = new SQLiteStorage(":memory:");
  const broken = interceptWrites(
    inner,
    () => Promise.reject(new StorageError('Database "x" failed: disk I/O error')),
  );
  await assert.rejects(
    () => new IngestionPipeline(new ListSource(5), broken).run(),
    /disk I\/O error/,
  );
  const [run] = await inner.listRuns(1);
  assert.equal(run?.status, "failed");
  assert.match(run?.error ?? "", /disk I\/O error/);
});

Deno.test("run() records a source failure as failed, keeping the records read before it", async () => {
  await using storage = new SQLiteStorage(":memory:");
  const source = new ListSource(50, {
    onYield: (i) => {
      if (i === 12) throw new Error('Cannot read "list.avro": device gone');
    },
  });
  await assert.rejects(
    () => new IngestionPipeline(source, storage, { batchSize: 5 }).run(),
    /device gone/,
  );
  const [run] = await storage.listRuns(1);
  assert.equal(run?.status, "failed");
  assert.equal(run?.alertsIngested, 12);
  assert.deepEqual(await storage.loadCursors("list"), new Map([["list.avro", "11"]]));
});

Deno.test("a batch also ends at maxBatchObservations, histories counted", async () => {
  await using inner = new SQLiteStorage(":memory:");
  const sizes: number[] = [];
  const storage = interceptWrites(inner, (runId, batch) => {
    sizes.push(batch.alerts.length);
    return inner.writeBatch(runId, batch);
  });
  // Each alert observes itself and 99 earlier DIASources: 100 observations.
  const source: AlertSource = {
    name: "heavy",
    params: {},
    async *alerts() {
      for (let i = 0; i < 25; i++) {
        const id = FIRST + BigInt(i) * 1000n;
        const history = Array.from({ length: 99 }, (_, k) => [id - BigInt(k + 1), 0n] as const);
        yield {
          kind: "alert",
          alert: makeAlert(id, { midpointMjdTai: 61000 + i, history }),
          cursor: { stream: "heavy", position: String(i) },
        };
      }
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  const run = await new IngestionPipeline(source, storage, {
    batchSize: 500,
    maxBatchObservations: 1000,
  }).run();
  assert.equal(run.alertsIngested, 25);
  assert.deepEqual(sizes, [10, 10, 5]);
  assert.throws(
    () => new IngestionPipeline(source, storage, { maxBatchObservations: 0 }),
    /Batch observations must be a positive integer: 0/,
  );
});

Deno.test("run() has the source prepare before the storage starts, and releases it only when unread", async () => {
  const events: string[] = [];
  class PreparedSource extends ListSource {
    prepare(): () => Promise<void> {
      events.push("prepare");
      return () => {
        events.push("release");
        return Promise.resolve();
      };
    }
    override alerts(options: AlertsOptions = {}): AsyncGenerator<SourcedAlert> {
      events.push("alerts");
      return super.alerts(options);
    }
  }
  await using inner = new SQLiteStorage(":memory:");
  const watched = (failInitialize: boolean): Storage => ({
    ...interceptWrites(inner, (runId, batch) => inner.writeBatch(runId, batch)),
    initialize: async () => {
      events.push("initialize");
      if (failInitialize) throw new StorageError("the disk is full");
      await inner.initialize();
    },
  });
  const run = await new IngestionPipeline(new PreparedSource(30), watched(false), { batchSize: 10 })
    .run();
  assert.equal(run.alertsIngested, 30);
  assert.deepEqual(events, ["prepare", "initialize", "alerts"]);

  events.length = 0;
  await assert.rejects(
    new IngestionPipeline(new PreparedSource(30), watched(true)).run(),
    /the disk is full/,
  );
  assert.deepEqual(events, ["prepare", "initialize", "release"]);

  // Failing after the run began, before reading: released too, and the run is recorded failed.
  events.length = 0;
  const cursorsLost: Storage = {
    ...watched(false),
    loadCursors: () => Promise.reject(new StorageError("the cursors table is locked")),
  };
  await assert.rejects(
    new IngestionPipeline(new PreparedSource(30), cursorsLost).run(),
    /the cursors table is locked/,
  );
  assert.deepEqual(events, ["prepare", "initialize", "release"]);
  assert.equal((await inner.listRuns(1))[0]?.status, "failed");
});
