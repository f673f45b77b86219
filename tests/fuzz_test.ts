// deno-lint-ignore-file no-console
/**
 * The seeded fuzzer (`_fuzz.ts`) over the real fixtures: about 2,000 mutants through every
 * decoder of untrusted bytes, allowed outcomes only. `deno task fuzz` runs the same for longer.
 * Set `LSST_FUZZ_SEED` to run another seed; a failure prints the seed and case to replay.
 */

import assert from "node:assert/strict";
import { AlertParseError } from "../model/errors.ts";
import { TruncatedInputError } from "../avro/byte_stream.ts";
import { OcfHeaderError } from "../avro/ocf_reader.ts";
import { UnknownSchemaError } from "../formats/schema_resolver.ts";
import {
  type DecoderName,
  DECODERS,
  describeFailure,
  disallowed,
  type FuzzSummary,
  loadFuzzInputs,
  makeMutant,
  mulberry32,
  superviseFuzz,
} from "./_fuzz.ts";
import { fixturesDir, sized, testWith } from "./_support.ts";

const FIXTURES = fixturesDir();
const NEED_FIXTURES = "the shared fixtures (../shared/fixtures)";
const SEED = Number(Deno.env.get("LSST_FUZZ_SEED") ?? 20_260_127);
const MUTANTS = sized(400, 2_000);

function summarize(summary: FuzzSummary): string {
  const lines = [
    `fuzz seed ${summary.seed}: ${summary.mutants} mutants in ${
      summary.seconds.toFixed(1)
    } s, ${summary.failures.length} failures`,
  ];
  for (const [decoder, { runs, outcomes }] of Object.entries(summary.perDecoder).sort()) {
    const shown = Object.entries(outcomes).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
    lines.push(`  ${decoder.padEnd(19)} ${String(runs).padStart(5)}: ${shown.join(", ")}`);
  }
  for (const failure of summary.failures) lines.push(`  ${describeFailure(failure)}`);
  return lines.join("\n");
}

Deno.test("mulberry32 is deterministic and spreads over [0, 1)", () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const values = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(values, Array.from({ length: 1000 }, () => b()));
  assert.ok(values.every((v) => v >= 0 && v < 1));
  assert.ok(Math.min(...values) < 0.01 && Math.max(...values) > 0.99);
  assert.notDeepEqual(values.slice(0, 5), Array.from({ length: 5 }, mulberry32(43)));
});

Deno.test("disallowed() accepts exactly the documented errors of each decoder", () => {
  const parse = new AlertParseError("Cannot decode", { stream: "f", position: "0" });
  const allowed: Array<[DecoderName, unknown]> = [
    ["decodeFramed", new RangeError("5 bytes follow the record")],
    ["decodeFramed", new UnknownSchemaError(1203, "Unknown schema id 1203")],
    ["decodeFramed", new TypeError('Field "diaSource.ra" is not a finite number')],
    ["decodeContainer", new OcfHeaderError("Not an Avro container file")],
    ["decodeContainer", new TruncatedInputError("Input ends", 3)],
    ["decodeContainer", new SyntaxError("Unexpected token")],
    [
      "decodeContainer",
      new RangeError("Cannot use the container's schema: Invalid Avro schema: x", {
        cause: new Error("Invalid Avro schema: Cannot read properties of undefined (reading 'a')"),
      }),
    ],
    ["readCsvAlerts", parse],
    ["decodeLocusMessage", new TypeError("Locus message is not zlib data")],
    [
      "decodeLocusMessage",
      new TypeError("Locus message is not a BSON document: Maximum call stack size exceeded"),
    ],
    ["readFits", new RangeError("Not a FITS file")],
    ["normalizeFits", new RangeError("Invalid FITS HDU 0")],
  ];
  for (const [decoder, error] of allowed) {
    assert.equal(disallowed(decoder, error), null, `${decoder}: ${error}`);
  }
  const refused: Array<[DecoderName, unknown]> = [
    ["FileSource", parse],
    ["decodeFramed", new Error("invalid field name")],
    ["decodeFramed", new SyntaxError("Unexpected token")],
    ["decodeContainer", new Error("undefined type name: lsst.v11_0.nuln")],
    ["decodeContainer", new TypeError("Cannot read properties of undefined (reading 'x')")],
    ["decodeContainer", new RangeError("Maximum call stack size exceeded")],
    ["decodeFramed", new RangeError("Array buffer allocation failed")],
    ["decodeFramed", new RangeError("Wrapped", { cause: new RangeError("Invalid array length") })],
    ["readCsvAlerts", new TypeError("x is not a function")],
    ["readCsvAlerts", new RangeError("Invalid string length")],
    ["readFits", new TypeError("Not a FITS file")],
    ["normalizeFits", "a string"],
    ["decodeLocusMessage", new Error("zlib")],
    ["decodeLocusMessage", new TypeError("Cannot read properties of null (reading 'data')")],
  ];
  for (const [decoder, error] of refused) {
    assert.notEqual(disallowed(decoder, error), null, `${decoder}: ${error}`);
  }
});

testWith(FIXTURES !== null, NEED_FIXTURES, {
  name: "a mutant depends only on the seed and its index, and every kind of input is mutated",
  async fn() {
    const inputs = await loadFuzzInputs(FIXTURES!);
    const kinds = new Set(inputs.map((i) => i.kind));
    assert.deepEqual([...kinds].sort(), Object.keys(DECODERS).sort());
    const first = Array.from({ length: 300 }, (_, i) => makeMutant(inputs, SEED, i));
    // Any order, any other mutants made before: the same bytes.
    for (const i of [299, 7, 0, 150]) {
      const again = makeMutant(inputs, SEED, i);
      assert.deepEqual(again.bytes, first[i]!.bytes);
      assert.deepEqual(again.steps, first[i]!.steps);
      assert.equal(again.caseId, `${SEED}:${i}`);
    }
    const other = makeMutant(inputs, SEED + 1, 0);
    assert.ok(other.steps.join() !== first[0]!.steps.join() || other.input !== first[0]!.input);
    assert.deepEqual(new Set(first.map((m) => m.input.kind)), kinds);
    const ops = new Set(first.flatMap((m) => m.steps.map((s) => s.split(/[@=]/)[0])));
    for (const op of ["flip", "set", "truncate", "insert", "dup", "varint", "number", "card"]) {
      assert.ok(ops.has(op), `mutation "${op}" used`);
    }
    // The seed inputs themselves are not changed by mutating them.
    const fresh = await loadFuzzInputs(FIXTURES!);
    assert.deepEqual(fresh.map((i) => i.bytes), inputs.map((i) => i.bytes));
  },
});

testWith(FIXTURES !== null, NEED_FIXTURES, {
  name: "the fuzz supervisor reports a hang and a crash with their seed and case, then goes on",
  async fn() {
    for (const what of ["hang", "crash"] as const) {
      const summary = await superviseFuzz({
        seed: SEED,
        count: 6,
        fixtures: FIXTURES!,
        hangMs: 3_000,
        inject: { what, at: 3 },
      });
      assert.equal(summary.failures.length, 1, summarize(summary));
      const [failure] = summary.failures;
      assert.equal(failure?.kind, what);
      assert.equal(failure?.caseId, `${SEED}:3`);
      assert.match(describeFailure(failure!), new RegExp(`--seed ${SEED} --case 3$`));
      // The other five ran, in a second child started after the failed case.
      assert.equal(summary.mutants, 5);
      assert.equal(summary.processes, 2);
    }
  },
});

testWith(FIXTURES !== null, NEED_FIXTURES, {
  name: `${MUTANTS} mutants of the fixtures reach every decoder and give only allowed outcomes`,
  async fn() {
    const summary = await superviseFuzz({
      seed: SEED,
      count: MUTANTS,
      fixtures: FIXTURES!,
      budgetMs: 5_000,
      hangMs: 30_000,
    });
    console.log(summarize(summary));
    assert.deepEqual(summary.failures, [], summarize(summary));
    assert.equal(summary.mutants, MUTANTS);
    const decoders = Object.values(DECODERS).flat();
    for (const decoder of new Set(decoders)) {
      const entry = summary.perDecoder[decoder];
      assert.ok(
        // Every decoder gets its share: at least 1 mutant in 40 (50 at the full 2,000).
        entry !== undefined && entry.runs >= Math.ceil(MUTANTS / 40),
        `${decoder} ran ${entry?.runs ?? 0} times`,
      );
      // Mutants that still decode and mutants that do not: both sides are exercised.
      assert.ok(Object.keys(entry.outcomes).length >= 2, `${decoder}: ${JSON.stringify(entry)}`);
    }
  },
});
