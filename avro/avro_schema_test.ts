import assert from "node:assert/strict";
import { join } from "node:path";
import { loadSchemaVersion, schemaIdentity } from "./avro_schema.ts";
import { SchemaResolver, UnknownSchemaError } from "../formats/schema_resolver.ts";
import { FileSource } from "../sources/file/file_source.ts";
import { fixturesDir, testWith, withTempDir } from "../tests/_support.ts";

const FIXTURES = fixturesDir();
const NEED_FIXTURES = "the shared fixtures (../shared/fixtures)";

/** The fixtures' `<M.m>/` schema folders, and their versions. */
function fixtureSchemas(): { dir: string; versions: string[] } {
  const dir = join(FIXTURES as string, "lsst/schema");
  const versions = [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => e.name)
    .sort();
  return { dir, versions };
}

/** A copy of the fixtures' schemas laid out as Rubin's alert_packet repository: `<M>/<m>/`. */
async function rubinTree(root: string): Promise<string> {
  const { dir, versions } = fixtureSchemas();
  const tree = join(root, "schema");
  for (const version of versions) {
    const [major, minor] = version.split(".") as [string, string];
    await Deno.mkdir(join(tree, major, minor), { recursive: true });
    for (const entry of Deno.readDirSync(join(dir, version))) {
      await Deno.copyFile(join(dir, version, entry.name), join(tree, major, minor, entry.name));
    }
  }
  return tree;
}

testWith(FIXTURES !== null, NEED_FIXTURES, {
  name: "Rubin's <M>/<m>/ schema tree assembles every version as the flattened layout does",
  async fn() {
    const { dir, versions } = fixtureSchemas();
    assert.ok(versions.length >= 10, versions.join(", "));
    await withTempDir("lsst-schema-", async (root) => {
      const tree = await rubinTree(root);
      for (const version of versions) {
        const schema = await loadSchemaVersion(tree, version);
        assert.deepEqual(schema, await loadSchemaVersion(dir, version), version);
        assert.deepEqual(schemaIdentity(schema), { survey: "lsst", version });
      }
    });
  },
});

testWith(FIXTURES !== null, NEED_FIXTURES, {
  name: "a folder holding one version's .avsc files is read for that version only",
  async fn() {
    const { dir } = fixtureSchemas();
    await withTempDir("lsst-schema-", async (root) => {
      // A copy of schema/11/0/ with a stray 11.1 record beside it.
      for (const entry of Deno.readDirSync(join(dir, "11.0"))) {
        await Deno.copyFile(join(dir, "11.0", entry.name), join(root, entry.name));
      }
      await Deno.copyFile(
        join(dir, "11.1", "lsst.v11_1.diaSource.avsc"),
        join(root, "lsst.v11_1.diaSource.avsc"),
      );
      assert.deepEqual(await loadSchemaVersion(root, "11.0"), await loadSchemaVersion(dir, "11.0"));
      await assert.rejects(
        loadSchemaVersion(root, "11.1"),
        (error: Error) => error instanceof TypeError && /holds no alert record/.test(error.message),
      );
      await assert.rejects(
        loadSchemaVersion(root, "10.0"),
        (error: Error) =>
          error instanceof Deno.errors.NotFound &&
          error.message ===
            `No schema 10.0 in "${root}": looked for 10.0/*.avsc, 10/0/*.avsc and lsst.v10_0.*.avsc`,
      );
    });
  },
});

testWith(FIXTURES !== null, NEED_FIXTURES, {
  name: "framed fixtures of every version decode with --schema-dir pointing at Rubin's tree",
  async fn() {
    await withTempDir("lsst-schema-", async (root) => {
      const tree = await rubinTree(root);
      const framed = join(root, "framed");
      await Deno.mkdir(framed);
      const names = [...Deno.readDirSync(join(FIXTURES as string, "lsst/cwf"))]
        .map((e) => e.name).filter((name) => /^lsst\.v\d+_\d+\.avro$/.test(name));
      assert.ok(names.length >= 10);
      for (const name of names) {
        await Deno.copyFile(join(FIXTURES as string, "lsst/cwf", name), join(framed, name));
      }
      const versions: string[] = [];
      for await (const item of new FileSource({ path: framed, schemaDir: tree }).alerts()) {
        assert.equal(item.kind, "alert", item.kind === "rejected" ? item.error.message : "");
        if (item.kind === "alert") versions.push(item.alert.schemaVersion ?? "");
      }
      const expected = names.map((n) => n.replace(/^lsst\.v(\d+)_(\d+)\.avro$/, "$1.$2"));
      assert.deepEqual(versions.sort(), expected.sort());

      const resolver = new SchemaResolver({ schemaDir: tree });
      assert.equal((await resolver.byId(1101)).version, "11.1");
      await assert.rejects(
        resolver.byId(1203),
        (error: Error) =>
          error instanceof UnknownSchemaError &&
          error.message ===
            `Unknown schema id 1203: not stored in the database, not in --schema-dir "${tree}" (no folder 12.3 or 12/3, no lsst.v12_3.*.avsc), no --schema-registry given`,
      );
    });
  },
});
