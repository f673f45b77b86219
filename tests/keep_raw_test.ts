/**
 * `--keep-raw`: each new alert's Avro payload is kept with its writer schema, and `show-alert`
 * decodes the whole packet again, equal to avsc's full decode of the original bytes (ids exact,
 * cutouts byte for byte). Real SQLite files, a real PostgreSQL server, the shared fixtures.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseExact } from "../model/exact_json.ts";
import { ingest } from "../pipeline/ingestion_pipeline.ts";
import { createAvroType, loadSchemaVersion } from "../avro/avro_schema.ts";
import { FileSource } from "../sources/file/file_source.ts";
import { MockSource } from "../sources/mock/mock_source.ts";
import { decodeRawAlert } from "../formats/raw_alert.ts";
import { writeOcfFile } from "../avro/ocf_writer.ts";
import { PostgresStorage } from "../storage/postgres_storage.ts";
import { SQLiteStorage } from "../storage/sqlite_storage.ts";
import { NEED_POSTGRES, POSTGRES_URL, withPostgresDatabase } from "./_postgres.ts";
import { fixturesDir, queryDatabase, testWith, withTempDir } from "./_support.ts";

const FIXTURES = fixturesDir();
const WHY = "the shared fixtures (../shared/fixtures or $LSST_FIXTURES)";
const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));

/** avsc's full value as show-alert prints it: bytes base64, non-finite numbers as strings. */
function asPrinted(value: unknown): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(asPrinted);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asPrinted(v)]));
  }
  // parseExact gives bigint only beyond 2^53: compare every integer-valued long as a number.
  return typeof value === "bigint" && Number.isSafeInteger(Number(value)) ? Number(value) : value;
}

function normalised(value: unknown): unknown {
  if (typeof value === "bigint" && Number.isSafeInteger(Number(value))) return Number(value);
  if (Array.isArray(value)) return value.map(normalised);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalised(v)]));
  }
  return value;
}

testWith(FIXTURES !== null, WHY, {
  name: "keep-raw: show-alert prints the whole heavy-history packet exactly as avsc decodes it",
  async fn() {
    await withTempDir("lsst-keep-raw-", async (dir) => {
      const db = join(dir, "alerts.db");
      const path = join(FIXTURES as string, "lsst/cwf-heavy/fink-real-v10_0-2.avro");
      const common = ["--allow-read", "--allow-write", "--allow-env", "--allow-net", CLI];
      const ingested = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...common, "ingest", "--source", "file", "--path", path, "--schema-dir"]
          .concat([join(FIXTURES as string, "lsst/schema"), "--keep-raw", "--no-cutouts"])
          .concat(["--db", db, "--quiet"]),
      }).output();
      assert.equal(ingested.code, 0, new TextDecoder().decode(ingested.stderr));
      const bytes = await Deno.readFile(path);
      const type = createAvroType(
        await loadSchemaVersion(join(FIXTURES as string, "lsst/schema"), "10.0"),
      );
      const packet = type.decode(Buffer.from(bytes), 5).value as Record<string, unknown>;
      const id = (packet.diaSource as { diaSourceId: bigint }).diaSourceId;

      const shown = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...common, "show-alert", String(id), "--db", db],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(shown.code, 0, new TextDecoder().decode(shown.stderr));
      const printed = parseExact(new TextDecoder().decode(shown.stdout));
      assert.deepStrictEqual(normalised(printed), asPrinted(packet));
      assert.equal((printed as { diaSourceId: bigint }).diaSourceId, id, "id exact");

      const missing = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...common, "show-alert", "42", "--db", db],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(missing.code, 1);
      assert.match(new TextDecoder().decode(missing.stderr), /Alert 42 has no kept payload/);
    });
  },
});

testWith(FIXTURES !== null, WHY, {
  name: "keep-raw: container payloads are kept only when asked, each decoding to its alert",
  async fn() {
    await withTempDir("lsst-keep-raw-", async (dir) => {
      const schema = await loadSchemaVersion(join(FIXTURES as string, "lsst/schema"), "11.0");
      const type = createAvroType(schema);
      const mock = [...new MockSource({ count: 300, seed: 14, cutouts: true }).packets()];
      const path = join(dir, "night.avro");
      await writeOcfFile(path, JSON.stringify(schema), type, mock.map((m) => m.packet).values(), {
        codec: "deflate",
        recordsPerBlock: 40,
      });
      assert.ok((await Deno.stat(path)).size > 1 << 20, "read by the decode worker");

      const without = join(dir, "without.db");
      {
        await using storage = new SQLiteStorage(without);
        await ingest(new FileSource({ path }), storage, { cutouts: null });
      }
      assert.deepEqual(queryDatabase(without, "SELECT COUNT(*) AS n FROM raw_alerts"), [{ n: 0n }]);

      const kept = join(dir, "kept.db");
      await using storage = new SQLiteStorage(kept);
      const run = await ingest(new FileSource({ path }), storage, { cutouts: null, keepRaw: true });
      assert.equal(run.alertsIngested, 300);
      assert.deepEqual(queryDatabase(kept, "SELECT COUNT(*) AS n FROM raw_alerts"), [{ n: 300n }]);
      for (const { packet } of mock.filter((_, i) => i % 37 === 0)) {
        const raw = await storage.rawAlert(packet.diaSource.diaSourceId as bigint);
        assert.ok(raw !== null);
        assert.equal(raw.schema.version, "11.0");
        assert.deepStrictEqual(
          normalised(decodeRawAlert(raw)),
          normalised(asPrinted(type.fromBuffer(type.toBuffer(packet)))),
        );
      }
      assert.equal(await storage.rawAlert(1n), null);
    });
  },
});

testWith(FIXTURES !== null && POSTGRES_URL !== "", `${WHY} and ${NEED_POSTGRES}`, {
  name: "keep-raw: PostgreSQL keeps payloads and their schemas too",
  async fn() {
    await withPostgresDatabase(async (url) => {
      await using storage = new PostgresStorage(url);
      const path = join(FIXTURES as string, "lsst/cwf");
      const source = new FileSource({ path, schemaDir: join(FIXTURES as string, "lsst/schema") });
      const run = await ingest(source, storage, { cutouts: null, keepRaw: true });
      assert.ok(run.alertsIngested >= 2);
      const bytes = await Deno.readFile(join(path, "boom-7912941781254298-v9_0-cutouts.avro"));
      const type = createAvroType(
        await loadSchemaVersion(join(FIXTURES as string, "lsst/schema"), "9.0"),
      );
      const packet = type.decode(Buffer.from(bytes), 5).value as {
        diaSource: { diaSourceId: bigint };
      };
      const raw = await storage.rawAlert(packet.diaSource.diaSourceId);
      assert.ok(raw !== null);
      assert.equal(raw.schema.id, 900);
      assert.equal(Buffer.from(raw.payload).compare(Buffer.from(bytes.subarray(5))), 0);
      assert.deepStrictEqual(normalised(decodeRawAlert(raw)), asPrinted(packet));
    });
  },
});
