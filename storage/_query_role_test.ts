import assert from "node:assert/strict";
import { queryRoleName, quoteIdentifier } from "./_query_role.ts";

const bytes = (text: string) => new TextEncoder().encode(text).length;

Deno.test("queryRoleName() is the database name behind a prefix when it fits", async () => {
  assert.equal(await queryRoleName("alerts"), "lsst_reader_alerts");
  assert.equal(await queryRoleName('we"ird db'), 'lsst_reader_we"ird db');
});

Deno.test("queryRoleName() keeps long names apart within PostgreSQL's 63 bytes", async () => {
  const prefix = "é".repeat(40);
  const one = await queryRoleName(`${prefix}_one`);
  const two = await queryRoleName(`${prefix}_two`);
  assert.notEqual(one, two);
  for (const name of [one, two]) {
    assert.ok(bytes(name) <= 63, name);
    assert.match(name, /^lsst_reader_é+_[0-9a-f]{8}$/);
  }
  assert.equal(await queryRoleName(`${prefix}_one`), one, "the same name every time");
});

Deno.test("quoteIdentifier() doubles inner quotes", () => {
  assert.equal(quoteIdentifier('a"b'), '"a""b"');
});
