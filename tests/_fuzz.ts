// deno-lint-ignore-file no-console
/**
 * A seeded mutation fuzzer for every decoder of untrusted bytes, shared by `fuzz_test.ts` (a
 * short run) and `bench/fuzz.ts` (`deno task fuzz`, a long one).
 *
 * Seeds are the real fixtures (Rubin containers and framed messages, the heavy real alerts, ZTF
 * containers, the boom FITS cutouts), plus a CSV export, mock containers with the deflate and
 * snappy codecs and an ANTARES locus message built here. Mutant `i` of seed `s` depends on
 * nothing else, so any mutant can be replayed alone: `deno task fuzz --seed s --case i`.
 *
 * Each mutant goes to every decoder that accepts its kind of input. The only allowed outcomes
 * are a decoded alert (sane: exact 64-bit id, finite position and time) or the documented
 * errors: `AlertParseError` rejections from `FileSource`, `TypeError`/`RangeError` (and their
 * subclasses) from the direct decoders, `SyntaxError` for a container's schema text,
 * `AlertParseError` for a CSV header. A stack overflow, a failed allocation or a JavaScript
 * slip (`Cannot read properties of undefined`) is never allowed, whatever class carries it; nor
 * is a decoder call slower than the time budget, or memory growing without bound.
 *
 * The mutants run in a child process (this module run as a script) watched by
 * {@linkcode superviseFuzz}: a hang (no progress for `hangMs`) kills the child, a crash (an
 * exit without a summary) is caught, both are reported with the seed and the case, and the run
 * goes on with the next case.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync, gunzipSync } from "node:zlib";
import { BSON } from "bson";
import { AlertParseError } from "../model/errors.ts";
import type { AlertRecord } from "../model/alert_record.ts";
import { parseExact } from "../model/exact_json.ts";
import { decodeContainer, decodeFramed } from "../formats/_message_decoder.ts";
import { toAntaresAlertRecord } from "../formats/antares_alert.ts";
import { decodeLocusMessage, encodeLocusMessage } from "../formats/antares_locus.ts";
import { createAvroType, loadSchemaVersion } from "../avro/avro_schema.ts";
import { readCsvAlerts } from "../formats/csv_alerts.ts";
import { FileSource } from "../sources/file/file_source.ts";
import { MockSource } from "../sources/mock/mock_source.ts";
import { encodeOcf } from "../avro/ocf_writer.ts";
import { SchemaResolver } from "../formats/schema_resolver.ts";
import { fitsImage, readFits } from "../cutouts/fits_reader.ts";
import { normalizeFits } from "../cutouts/fits_normalizer.ts";

// --- seeded randomness ---------------------------------------------------------------------

/**
 * mulberry32: a small, fast 32-bit PRNG.
 *
 * @param seed Any 32-bit integer.
 * @returns Numbers in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The PRNG seed of mutant `index` of run `seed` (murmur3's finaliser over both). */
function _caseSeed(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index >>> 0, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

// --- inputs ----------------------------------------------------------------------------------

/** What kind of bytes an input is, which decides the mutations and the decoders. */
export type InputKind = "ocf" | "framed" | "csv" | "locus" | "locus-bson" | "fits";

/** One seed input. */
export interface FuzzInput {
  /** Where it comes from (a fixture path or `generated/…`). */
  name: string;
  /** Its kind. */
  kind: InputKind;
  /** Its bytes (for `locus-bson`, the BSON before zlib). */
  bytes: Uint8Array;
}

/**
 * The seed inputs: fixtures, plus a CSV export, mock containers and an ANTARES locus message.
 *
 * @param fixtures The shared fixtures folder.
 * @returns The inputs, in a stable order.
 */
export async function loadFuzzInputs(fixtures: string): Promise<FuzzInput[]> {
  const inputs: FuzzInput[] = [];
  const folder = async (dir: string, kind: InputKind) => {
    const names = [...Deno.readDirSync(join(fixtures, dir))].map((e) => e.name).sort();
    for (const name of names) {
      inputs.push({
        name: `${dir}/${name}`,
        kind,
        bytes: await Deno.readFile(join(fixtures, dir, name)),
      });
    }
  };
  await folder("lsst/ocf", "ocf");
  await folder("ztf", "ocf");
  await folder("lsst/cwf", "framed");
  await folder("lsst/cwf-heavy", "framed");

  // Mock v11.0 containers of several blocks with the compressing codecs.
  const schema = await loadSchemaVersion(join(fixtures, "lsst/schema"), "11.0");
  const type = createAvroType(schema);
  const packets = [...new MockSource({ count: 9, seed: 11, cutouts: false }).packets()]
    .map((p) => p.packet);
  for (const codec of ["deflate", "snappy"] as const) {
    const chunks = [...encodeOcf(JSON.stringify(schema), type, packets, {
      codec,
      recordsPerBlock: 3,
      sync: new Uint8Array(16).map((_, i) => 0x31 * (i + 1)),
    })];
    inputs.push({ name: `generated/mock-v11-${codec}.avro`, kind: "ocf", bytes: _concat(chunks) });
  }

  inputs.push({ name: "generated/alerts.csv", kind: "csv", bytes: _csvExport() });

  const read = async (name: string) =>
    parseExact(await Deno.readTextFile(join(fixtures, "antares/lsst", name)));
  const locus = await read("locus.json") as Record<string, unknown>;
  const alerts = (await read("alerts.json") as Array<Record<string, unknown>>).slice(0, 3);
  const document = {
    data: {
      type: "locus",
      id: locus.locus_id,
      attributes: {
        ra: locus.ra,
        dec: locus.dec,
        htm16: 61983245826n,
        properties: locus.properties,
        tags: locus.tags,
        catalogs: locus.catalogs,
      },
    },
    included: alerts.map((a) => ({
      type: "alert",
      id: a.alert_id,
      attributes: { mjd: a.mjd, properties: a.properties, processed_at: a.processed_at },
    })),
  };
  inputs.push({
    name: "generated/locus-message.zlib",
    kind: "locus",
    bytes: new Uint8Array(encodeLocusMessage(document)),
  });
  inputs.push({
    name: "generated/locus-message.bson",
    kind: "locus-bson",
    bytes: new Uint8Array(BSON.serialize(document)),
  });

  // FITS: the boom alert's three Rubin cutouts and a ZTF one (free-format SIMPLE card).
  const resolver = new SchemaResolver({ schemaDir: join(fixtures, "lsst/schema") });
  const { alert: boom } = await decodeFramed(
    await Deno.readFile(join(fixtures, "lsst/cwf/boom-7912941781254298-v9_0-cutouts.avro")),
    resolver,
    "fuzz",
  );
  for (const kind of ["cutoutDifference", "cutoutScience", "cutoutTemplate"] as const) {
    const bytes = boom[kind];
    if (bytes !== null) {
      inputs.push({ name: `boom/${kind}.fits`, kind: "fits", bytes: new Uint8Array(bytes) });
    }
  }
  const [{ alert: ztf } = { alert: null }] = await decodeContainer(
    await Deno.readFile(join(fixtures, "ztf/472263571115115000.avro")),
    resolver,
    "fuzz",
  );
  if (ztf?.cutoutScience) {
    inputs.push({
      name: "ztf/472263571115115000/science.fits",
      kind: "fits",
      bytes: new Uint8Array(gunzipSync(ztf.cutoutScience)),
    });
  }
  return inputs;
}

// A CSV export with every column kind: quoted text with commas and quotes, ids above 2^53,
// NaN and infinities, empty fields, a JSON properties column, CRLF and LF line ends.
function _csvExport(): Uint8Array {
  const header = [
    "dia_source_id",
    "alert_id",
    "dia_object_id",
    "ss_object_id",
    "ss_object_name",
    "ss_object_reassoc_time_mjd_tai",
    "ra",
    "dec",
    "ra_err",
    "midpoint_mjd_tai",
    "band",
    "psf_flux",
    "extendedness",
    "visit",
    "detector",
    "observation_reason",
    "survey",
    "is_reassociation",
    "reassociation_reason",
    "cutout_science",
    "properties",
  ];
  const lines = [header.join(",")];
  for (let i = 0; i < 12; i++) {
    const id = 170_680_810_000_000_000n + BigInt(i * 37);
    lines.push([
      id,
      id,
      i % 4 === 0 ? 0 : 169_680_810_000_000_172n + BigInt(i),
      i % 3 === 0 ? 21_000_000_000_000_000n + BigInt(i) : "",
      i % 3 === 0 ? `"(${i}) 2026 AB, ""Ceres"""` : "",
      i % 5 === 0 ? 61000.25 + i : "nan",
      (150 + i / 7).toFixed(9),
      (-30 - i / 11).toFixed(9),
      i % 2 ? "1.5e-05" : "",
      (61000.1 + i / 24).toFixed(6),
      "ugrizy"[i % 6],
      i % 4 === 1 ? "-inf" : (1234.5 * i).toString(),
      i % 2 ? "0.25" : "NaN",
      2026112700123n + BigInt(i),
      i % 189,
      `"wfd, lowdust"`,
      i % 7 === 0 ? "ztf" : "lsst",
      i % 3 === 0 ? "true" : "0",
      i % 3 === 0 ? "new_association" : "",
      i % 2 ? `/data/cutouts/2026-01-0${i % 9}/${id}/science.fits` : "",
      `"{""ant_survey"":4,""id"":${id},""nested"":{""a"":[1,2.5,null]}}"`,
    ].join(","));
  }
  return new TextEncoder().encode(lines.map((l, i) => l + (i % 2 ? "\r\n" : "\n")).join(""));
}

// --- mutations -------------------------------------------------------------------------------

type _Mutation = (bytes: Uint8Array, random: () => number) => { bytes: Uint8Array; step: string };

const INTERESTING_BYTES = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, 0x20, 0x22, 0x2c, 0x0a];
const INTERESTING_LONGS = [
  0n,
  1n,
  -1n,
  2n ** 31n,
  -(2n ** 31n),
  2n ** 32n,
  2n ** 53n,
  2n ** 62n,
  2n ** 63n - 1n,
  -(2n ** 63n),
];
const INTERESTING_INT32 = [0, -1, 1, 0x7fffffff, -0x80000000, 0x40000000, 5, 4];
const INTERESTING_NUMBERS = [
  "0",
  "-1",
  "1e309",
  "-0",
  "nan",
  "18446744073709551616",
  "9223372036854775808",
  "-9223372036854775809",
  "999999999",
  "2147483648",
  "0x10",
  "1.5",
  "",
];
const TOKENS: Record<InputKind, string[]> = {
  ocf: ["Obj\x01", "avro.schema", "avro.codec", "zstandard", '{"type":"array"'],
  framed: ["\x00\x00\x00\x04\x4c"],
  csv: [",", '"', '""', "\n", "\r\n", "\uFEFF", ",,", '"a""b"', "\xff\xfe", "dia_source_id"],
  locus: ["x\x9c", "\x00\x00\xff\xff"],
  "locus-bson": ["data", "locus", "included", "\x00", "\x10", "\x12"],
  fits: [
    "END" + " ".repeat(77),
    "NAXIS1  = 1000000000",
    "BITPIX  =                  -64",
    "XTENSION= 'BINTABLE'",
    "GCOUNT  =                 9999",
    "NAXIS   =                  999",
    "SIMPLE  =                    F",
    "EXTNAME = 'O''BRIEN",
  ],
};

function _at(random: () => number, length: number): number {
  return Math.floor(random() * Math.max(length, 1));
}

function _pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

const _flip: _Mutation = (bytes, random) => {
  const out = bytes.slice();
  const bits = 1 + Math.floor(random() * 4);
  const where: number[] = [];
  for (let i = 0; i < bits && out.length > 0; i++) {
    const at = _at(random, out.length);
    out[at] = (out[at] as number) ^ (1 << Math.floor(random() * 8));
    where.push(at);
  }
  return { bytes: out, step: `flip@${where.join("+")}` };
};

const _interesting: _Mutation = (bytes, random) => {
  if (bytes.length === 0) return { bytes, step: "noop" };
  const out = bytes.slice();
  const at = _at(random, out.length);
  const value = _pick(random, INTERESTING_BYTES);
  out[at] = value;
  return { bytes: out, step: `set@${at}=0x${value.toString(16)}` };
};

const _truncate: _Mutation = (bytes, random) => {
  // Mostly near the end (a cut transfer), sometimes anywhere.
  const at = random() < 0.5
    ? Math.max(0, bytes.length - 1 - Math.floor(random() * Math.min(bytes.length, 64)))
    : _at(random, bytes.length);
  return { bytes: bytes.subarray(0, at), step: `truncate@${at}` };
};

function _insert(kind: InputKind): _Mutation {
  return (bytes, random) => {
    const at = _at(random, bytes.length + 1);
    let extra: Uint8Array;
    if (random() < 0.5) {
      extra = Uint8Array.from(_pick(random, TOKENS[kind]), (c) => c.charCodeAt(0) & 0xff);
    } else {
      extra = new Uint8Array(1 + Math.floor(random() * 32)).map(() => Math.floor(random() * 256));
    }
    return { bytes: _splice(bytes, at, 0, extra), step: `insert@${at}+${extra.length}` };
  };
}

const _duplicate: _Mutation = (bytes, random) => {
  if (bytes.length === 0) return { bytes, step: "noop" };
  const from = _at(random, bytes.length);
  const length = 1 + Math.floor(random() * Math.min(4096, bytes.length - from));
  const to = _at(random, bytes.length + 1);
  const slice = bytes.slice(from, from + length);
  return { bytes: _splice(bytes, to, 0, slice), step: `dup@${from}:${length}>${to}` };
};

// An Avro long found at a random position, rewritten as an interesting value: the lengths,
// counts, union indexes and block sizes all are such varints.
const _varint: _Mutation = (bytes, random) => {
  for (let tries = 0; tries < 32; tries++) {
    const at = _at(random, bytes.length);
    const found = _readVarint(bytes, at);
    if (found === null) continue;
    const left = BigInt(bytes.length - found.end);
    const choices = [...INTERESTING_LONGS, found.value + 1n, found.value - 1n, found.value * 2n];
    choices.push(left, left + 1n, -found.value);
    if (random() < 0.1) {
      // Longer than the 10 bytes a long may take.
      const overlong = new Uint8Array(11).fill(0xff);
      overlong[10] = 0x01;
      return { bytes: _splice(bytes, at, found.end - at, overlong), step: `varint@${at}=overlong` };
    }
    const value = _pick(random, choices);
    return {
      bytes: _splice(bytes, at, found.end - at, _writeVarint(value)),
      step: `varint@${at}:${found.value}=${value}`,
    };
  }
  return { bytes, step: "noop" };
};

// A container's sync marker (its last 16 bytes) copied somewhere else: resynchronisation bait.
const _sync: _Mutation = (bytes, random) => {
  if (bytes.length < 32) return { bytes, step: "noop" };
  const marker = bytes.slice(bytes.length - 16);
  const at = _at(random, bytes.length);
  return random() < 0.5 ? { bytes: _splice(bytes, at, 0, marker), step: `sync-insert@${at}` } : {
    bytes: _splice(bytes, at, Math.min(16, bytes.length - at), marker),
    step: `sync-over@${at}`,
  };
};

// A run of ASCII digits (a CSV value, a FITS header number) replaced by an interesting number.
const _number: _Mutation = (bytes, random) => {
  let at = _at(random, bytes.length);
  while (at < bytes.length && !_isDigit(bytes[at])) at++;
  if (at >= bytes.length) return { bytes, step: "noop" };
  let end = at;
  while (end < bytes.length && (_isDigit(bytes[end]) || bytes[end] === 0x2e)) end++;
  const text = _pick(random, INTERESTING_NUMBERS);
  // FITS cards are fixed-width: keep the length there by padding or cutting.
  const replacement = new TextEncoder().encode(text);
  return {
    bytes: _splice(bytes, at, end - at, replacement),
    step: `number@${at}:${end - at}=${JSON.stringify(text)}`,
  };
};

const _fitsNumber: _Mutation = (bytes, random) => {
  const { bytes: out, step } = _number(bytes, random);
  if (out.length === bytes.length || step === "noop") return { bytes: out, step };
  // Keep the file a whole number of 2880-byte blocks so the header is what gets tested.
  const fixed = new Uint8Array(bytes.length).fill(0x20);
  fixed.set(out.subarray(0, bytes.length));
  return { bytes: fixed, step: `${step},fitted` };
};

const _int32: _Mutation = (bytes, random) => {
  if (bytes.length < 4) return { bytes, step: "noop" };
  const out = bytes.slice();
  const at = _at(random, out.length - 3);
  const value = _pick(random, INTERESTING_INT32);
  new DataView(out.buffer, out.byteOffset, out.byteLength).setInt32(at, value, true);
  return { bytes: out, step: `int32@${at}=${value}` };
};

// A FITS card overwritten by another in place: lengths stay whole blocks.
const _card: _Mutation = (bytes, random) => {
  const cards = Math.floor(Math.min(bytes.length, 2880 * 4) / 80);
  if (cards === 0) return { bytes, step: "noop" };
  const at = Math.floor(random() * cards) * 80;
  const text = _pick(random, TOKENS.fits).padEnd(80).slice(0, 80);
  const out = bytes.slice();
  for (let i = 0; i < 80; i++) out[at + i] = text.charCodeAt(i);
  return { bytes: out, step: `card@${at}=${JSON.stringify(text.trimEnd())}` };
};

const MUTATIONS: Record<InputKind, Array<[_Mutation, number]>> = {
  ocf: [[_flip, 3], [_interesting, 2], [_truncate, 1], [_insert("ocf"), 1], [_duplicate, 1], [
    _varint,
    4,
  ], [_sync, 1]],
  framed: [[_flip, 3], [_interesting, 2], [_truncate, 1], [_insert("framed"), 1], [
    _duplicate,
    1,
  ], [_varint, 5]],
  csv: [[_flip, 2], [_interesting, 2], [_truncate, 1], [_insert("csv"), 3], [_duplicate, 1], [
    _number,
    4,
  ]],
  locus: [[_flip, 3], [_interesting, 2], [_truncate, 1], [_insert("locus"), 1], [_duplicate, 1]],
  "locus-bson": [[_flip, 2], [_interesting, 2], [_truncate, 1], [_insert("locus-bson"), 2], [
    _duplicate,
    1,
  ], [_int32, 4]],
  fits: [[_flip, 2], [_interesting, 2], [_truncate, 1], [_insert("fits"), 1], [_duplicate, 1], [
    _fitsNumber,
    4,
  ], [_card, 4]],
};

const KIND_WEIGHTS: ReadonlyArray<[InputKind, number]> = [
  ["ocf", 28],
  ["framed", 28],
  ["csv", 16],
  ["locus", 6],
  ["locus-bson", 10],
  ["fits", 12],
];
const KIND_WEIGHT_TOTAL = KIND_WEIGHTS.reduce((n, [, w]) => n + w, 0);

/** One mutated input, and how to make it again. */
export interface Mutant {
  /** The run's seed. */
  seed: number;
  /** The mutant's index in the run. */
  index: number;
  /** `<seed>:<index>`: with the inputs, all it takes to rebuild the mutant. */
  caseId: string;
  /** The seed input it was made from. */
  input: FuzzInput;
  /** The mutations, in order, with their offsets. */
  steps: string[];
  /** The bytes a decoder gets (for `locus-bson`, zlib of the mutated BSON). */
  bytes: Uint8Array;
}

/**
 * Mutant `index` of run `seed`: depends on nothing else, so it can be replayed alone.
 *
 * @param inputs The seed inputs ({@linkcode loadFuzzInputs}).
 * @param seed The run's seed.
 * @param index The mutant's index.
 * @returns The mutant.
 */
export function makeMutant(inputs: readonly FuzzInput[], seed: number, index: number): Mutant {
  const random = mulberry32(_caseSeed(seed, index));
  // A kind first, then one of its inputs: the single CSV gets as many mutants as the many
  // containers.
  let roll = random() * KIND_WEIGHT_TOTAL;
  let kind: InputKind = "ocf";
  for (const [k, w] of KIND_WEIGHTS) {
    kind = k;
    if ((roll -= w) < 0) break;
  }
  const ofKind = inputs.filter((i) => i.kind === kind);
  const input = _pick(random, ofKind.length > 0 ? ofKind : inputs);
  const table = MUTATIONS[input.kind];
  const total = table.reduce((n, [, w]) => n + w, 0);
  const stack = random();
  const count = stack < 0.6 ? 1 : stack < 0.85 ? 2 : stack < 0.95 ? 3 : 4;
  let bytes = input.bytes;
  const steps: string[] = [];
  for (let i = 0; i < count; i++) {
    let r = random() * total;
    let mutation = table[0]![0];
    for (const [m, w] of table) {
      if ((r -= w) < 0) {
        mutation = m;
        break;
      }
    }
    const result = mutation(bytes, random);
    bytes = result.bytes;
    steps.push(result.step);
  }
  if (input.kind === "locus-bson") bytes = new Uint8Array(deflateSync(bytes));
  return { seed, index, caseId: `${seed}:${index}`, input, steps, bytes };
}

// --- decoders and the allowed outcomes -------------------------------------------------------

/** A decoder the fuzzer feeds. */
export type DecoderName =
  | "FileSource"
  | "decodeFramed"
  | "decodeContainer"
  | "readCsvAlerts"
  | "decodeLocusMessage"
  | "readFits"
  | "normalizeFits";

/** Which decoders accept which kind of input. */
export const DECODERS: Readonly<Record<InputKind, readonly DecoderName[]>> = {
  ocf: ["FileSource", "decodeContainer"],
  framed: ["FileSource", "decodeFramed"],
  csv: ["FileSource", "readCsvAlerts"],
  locus: ["decodeLocusMessage"],
  "locus-bson": ["decodeLocusMessage"],
  fits: ["readFits", "normalizeFits"],
};

/** Why a mutant failed. */
export type FailureKind =
  | "undocumented-error"
  | "implementation-error"
  | "invalid-alert"
  | "invalid-output"
  | "slow"
  | "memory"
  | "hang"
  | "crash";

/** A disallowed outcome, with what it takes to replay it. */
export interface FuzzFailure {
  /** What went wrong. */
  kind: FailureKind;
  /** The run's seed. */
  seed: number;
  /** The mutant's index. */
  index: number;
  /** `<seed>:<index>`. */
  caseId: string;
  /** The seed input (unknown after a crash before the mutant was described). */
  input: string;
  /** Its mutations. */
  steps: string[];
  /** The decoder, when one is to blame. */
  decoder: DecoderName | null;
  /** The error, the time or the memory, in words. */
  detail: string;
}

// Not a decoder's answer about the input but a failure of the decoder itself, whatever class
// carries it.
const IMPLEMENTATION_FAILURE = new RegExp(
  [
    "Maximum call stack size exceeded",
    "Array buffer allocation failed",
    "Invalid array length",
    "Invalid typed array length",
    "Invalid string length",
    "out of memory",
    "Cannot read properties of (?:undefined|null)",
    "Cannot set properties of (?:undefined|null)",
    "is not a function",
    "is not iterable",
    "Cannot convert a BigInt",
    "Cannot mix BigInt",
    "Internal error",
  ].join("|"),
);

// Where the project wraps whatever a third-party parser threw as a verdict on the input (avsc
// on a schema, the BSON library on a document): what follows is classified, not a slip.
const CLASSIFIED = /Invalid Avro schema: |Locus message is not a BSON document: /;

function _causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && chain.length < 10; e = (e as Error).cause) {
    chain.push(e);
    if (!(e instanceof Error) || CLASSIFIED.test(e.message)) break;
  }
  return chain;
}

function _implementationFailure(error: unknown): string | null {
  for (const e of _causes(error)) {
    const message = e instanceof Error ? e.message : String(e);
    const unclassified = message.split(CLASSIFIED)[0] as string;
    if (IMPLEMENTATION_FAILURE.test(unclassified)) {
      return `${e instanceof Error ? e.name : typeof e}: ${message}`;
    }
  }
  return null;
}

/**
 * Whether an error thrown by a decoder is one it documents.
 *
 * @param decoder The decoder.
 * @param error What it threw.
 * @returns `null` when allowed, else why not.
 */
export function disallowed(decoder: DecoderName, error: unknown): string | null {
  const name = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const failure = _implementationFailure(error);
  if (failure !== null) return `implementation failure: ${failure}`;
  switch (decoder) {
    case "FileSource":
      return `FileSource threw: ${name}`;
    case "readCsvAlerts":
      return error instanceof AlertParseError ? null : `undocumented ${name}`;
    case "readFits":
    case "normalizeFits":
      return error instanceof RangeError ? null : `undocumented ${name}`;
    case "decodeContainer":
      if (error instanceof SyntaxError) return null;
    // falls through
    default:
      return error instanceof TypeError || error instanceof RangeError
        ? null
        : `undocumented ${name}`;
  }
}

/** Why a decoded alert cannot be right, or `null`. */
export function insaneAlert(alert: AlertRecord): string | null {
  const id = alert.diaSourceId;
  if (typeof id !== "bigint" || id < -(2n ** 63n) || id >= 2n ** 63n) {
    return `diaSourceId ${String(id)} is not a 64-bit integer`;
  }
  for (const field of ["ra", "dec", "midpointMjdTai"] as const) {
    if (!Number.isFinite(alert[field])) return `${field} is ${alert[field]}`;
  }
  return null;
}

/** The outcome of one decoder on one mutant: a label such as `alert`, `rejected`, `RangeError`. */
export interface DecoderOutcome {
  /** The decoder. */
  decoder: DecoderName;
  /** What it did. */
  label: string;
  /** How long it took. */
  ms: number;
  /** Why the outcome is not allowed, or `null`. */
  problem: { kind: FailureKind; detail: string } | null;
  /** The error, for replays. */
  error: unknown;
}

/** Shared, reusable state of the decoders (schema caches only: outcomes do not depend on it). */
export class FuzzContext {
  #fixtures: string;
  #dir: string;
  #resolver: SchemaResolver | null = null;
  #source: FileSource | null = null;
  #uses = 0;

  /**
   * @param fixtures The shared fixtures folder.
   * @param dir A folder for the mutant file `FileSource` reads.
   */
  constructor(fixtures: string, dir: string) {
    this.#fixtures = fixtures;
    this.#dir = dir;
  }

  /** Where FileSource reads the mutant. */
  get path(): string {
    return join(this.#dir, "mutant");
  }

  // Caches are dropped now and then: mutated schemas that still parse would pile up.
  #fresh(): { resolver: SchemaResolver; source: FileSource } {
    if (this.#resolver === null || this.#source === null || ++this.#uses > 200) {
      const schemaDir = join(this.#fixtures, "lsst/schema");
      this.#resolver = new SchemaResolver({ schemaDir });
      this.#source = new FileSource({ path: this.path, schemaDir });
      this.#uses = 0;
    }
    return { resolver: this.#resolver, source: this.#source };
  }

  /**
   * Run one decoder on a mutant and judge the outcome.
   *
   * @param decoder The decoder.
   * @param bytes The mutant's bytes.
   * @param budgetMs The time budget of the call.
   * @returns The outcome.
   */
  async run(decoder: DecoderName, bytes: Uint8Array, budgetMs: number): Promise<DecoderOutcome> {
    const { resolver, source } = this.#fresh();
    if (decoder === "FileSource") await Deno.writeFile(this.path, bytes);
    const started = performance.now();
    let label: string;
    let problem: DecoderOutcome["problem"] = null;
    let error: unknown = null;
    try {
      const result = await this.#decode(decoder, bytes, resolver, source);
      label = result.label;
      if (result.problem !== null) problem = result.problem;
    } catch (thrown) {
      error = thrown;
      label = thrown instanceof Error ? thrown.name : typeof thrown;
      const why = disallowed(decoder, thrown);
      if (why !== null) {
        problem = {
          kind: why.startsWith("implementation") ? "implementation-error" : "undocumented-error",
          detail: why,
        };
      }
    }
    const ms = performance.now() - started;
    if (problem === null && ms > budgetMs) {
      problem = { kind: "slow", detail: `took ${ms.toFixed(0)} ms (budget ${budgetMs} ms)` };
    }
    return { decoder, label, ms, problem, error };
  }

  async #decode(
    decoder: DecoderName,
    bytes: Uint8Array,
    resolver: SchemaResolver,
    source: FileSource,
  ): Promise<{ label: string; problem: DecoderOutcome["problem"] }> {
    const insane = (alerts: AlertRecord[]) => {
      for (const alert of alerts) {
        const why = insaneAlert(alert);
        if (why !== null) return { kind: "invalid-alert" as const, detail: why };
      }
      return null;
    };
    switch (decoder) {
      case "FileSource": {
        let alerts = 0;
        let rejected = 0;
        for await (const item of source.alerts()) {
          if (item.kind === "alert") {
            alerts++;
            const why = insaneAlert(item.alert);
            if (why !== null) {
              return { label: "alert", problem: { kind: "invalid-alert", detail: why } };
            }
          } else if (item.kind === "rejected") {
            rejected++;
            const failure = _implementationFailure(item.error);
            if (!(item.error instanceof AlertParseError) || item.error.stream !== this.path) {
              return {
                label: "rejected",
                problem: { kind: "undocumented-error", detail: `rejection ${item.error}` },
              };
            }
            if (failure !== null) {
              return {
                label: "rejected",
                problem: {
                  kind: "implementation-error",
                  detail: `rejected for a failure of the decoder: ${failure}`,
                },
              };
            }
          }
        }
        const label = alerts > 0 && rejected > 0
          ? "alert+rejected"
          : alerts > 0
          ? "alert"
          : rejected > 0
          ? "rejected"
          : "nothing";
        return { label, problem: null };
      }
      case "decodeFramed": {
        const { alert } = await decodeFramed(bytes, resolver, "fuzz");
        return { label: "alert", problem: insane([alert]) };
      }
      case "decodeContainer": {
        const alerts = (await decodeContainer(bytes, resolver, "fuzz")).map((d) => d.alert);
        return { label: alerts.length === 0 ? "nothing" : "alert", problem: insane(alerts) };
      }
      case "readCsvAlerts": {
        let alerts = 0;
        let rejected = 0;
        const input = new Blob([bytes.slice()]).stream();
        for await (const row of readCsvAlerts(input, { stream: "mutant.csv" })) {
          if (row.kind === "alert") {
            alerts++;
            const why = insaneAlert(row.alert);
            if (why !== null) {
              return { label: "alert", problem: { kind: "invalid-alert", detail: why } };
            }
          } else {
            rejected++;
            if (!(row.error instanceof AlertParseError)) {
              return {
                label: "rejected",
                problem: { kind: "undocumented-error", detail: `${row.error}` },
              };
            }
          }
        }
        return {
          label: alerts > 0 && rejected > 0
            ? "alert+rejected"
            : alerts > 0
            ? "alert"
            : rejected > 0
            ? "rejected"
            : "nothing",
          problem: null,
        };
      }
      case "decodeLocusMessage": {
        const locus = decodeLocusMessage(bytes);
        let mapped = 0;
        for (const resource of locus.included) {
          try {
            const alert = toAntaresAlertRecord(resource);
            if (alert !== null) {
              mapped++;
              const why = insaneAlert(alert);
              if (why !== null) {
                return { label: "locus", problem: { kind: "invalid-alert", detail: why } };
              }
            }
          } catch (error) {
            // toAntaresAlertRecord documents TypeError for a bad id or property.
            if (!(error instanceof TypeError) || _implementationFailure(error) !== null) {
              return {
                label: "locus",
                problem: { kind: "undocumented-error", detail: `toAntaresAlertRecord: ${error}` },
              };
            }
          }
        }
        return { label: mapped > 0 ? "locus+alerts" : "locus", problem: null };
      }
      case "readFits": {
        const hdus = readFits(bytes);
        for (const hdu of hdus) {
          try {
            fitsImage(bytes, hdu);
          } catch (error) {
            if (!(error instanceof RangeError) || _implementationFailure(error) !== null) {
              return {
                label: "hdus",
                problem: { kind: "undocumented-error", detail: `fitsImage: ${error}` },
              };
            }
          }
        }
        return { label: "hdus", problem: null };
      }
      case "normalizeFits": {
        const out = normalizeFits(bytes);
        // What it returns must still be the same FITS file, card for card.
        let problem: string | null = null;
        if (out.length !== bytes.length) problem = "it changed the length";
        else {
          try {
            if (readFits(out).length !== readFits(bytes).length) problem = "it changed the HDUs";
          } catch (error) {
            problem = `its output is not FITS: ${error}`;
          }
        }
        if (problem !== null) {
          return { label: "fits", problem: { kind: "invalid-output", detail: problem } };
        }
        return { label: out === bytes ? "fits-unchanged" : "fits-rewritten", problem: null };
      }
    }
  }
}

// --- the child process: runs mutants, reports each one on stdout -----------------------------

/** Options of the child process, as command-line flags. */
interface _ChildOptions {
  seed: number;
  from: number;
  count: number;
  seconds: number;
  fixtures: string;
  dir: string;
  budgetMs: number;
  maxRssMb: number;
  replay: number | null;
  save: string | null;
  inject: { what: "hang" | "crash"; at: number } | null;
}

const _encoder = new TextEncoder();

function _emit(line: string): void {
  // Synchronous, so the line is out before a hang or a crash in the next case.
  const bytes = _encoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

async function _child(options: _ChildOptions): Promise<void> {
  const inputs = await loadFuzzInputs(options.fixtures);
  const context = new FuzzContext(options.fixtures, options.dir);
  if (options.replay !== null) {
    await _replay(inputs, context, options);
    return;
  }
  const deadline = performance.now() + options.seconds * 1000;
  let baseline: number | null = null;
  let index = options.from;
  const end = options.from + options.count;
  for (; index < end && performance.now() < deadline; index++) {
    _emit(`B ${index}`);
    const mutant = makeMutant(inputs, options.seed, index);
    const outcomes: Record<string, string> = {};
    if (options.inject?.at === index) _inject(options.inject.what);
    for (const decoder of DECODERS[mutant.input.kind]) {
      const outcome = await context.run(decoder, mutant.bytes, options.budgetMs);
      outcomes[decoder] = outcome.label;
      if (outcome.problem !== null) {
        _emit(
          `F ${
            JSON.stringify(_failure(mutant, decoder, outcome.problem.kind, outcome.problem.detail))
          }`,
        );
      }
    }
    const rss = Deno.memoryUsage().rss;
    // The first cases parse every schema: measure growth from after them.
    if (index - options.from === 20) baseline = rss;
    if (baseline !== null && rss - baseline > options.maxRssMb * 1024 * 1024) {
      const grown = `resident memory grew by ${((rss - baseline) / 1048576).toFixed(0)} MB`;
      _emit(`F ${JSON.stringify(_failure(mutant, null, "memory", grown))}`);
      baseline = rss;
    }
    _emit(`E ${index} ${JSON.stringify({ input: mutant.input.name, outcomes })}`);
  }
  _emit(`D ${JSON.stringify({ next: index })}`);
}

function _inject(what: "hang" | "crash"): void {
  // A decoder that never returns, or a process that dies (as on a fatal V8 error).
  if (what === "hang") { for (;;) Math.random(); }
  Deno.exit(134);
}

function _failure(
  mutant: Mutant,
  decoder: DecoderName | null,
  kind: FailureKind,
  detail: string,
): FuzzFailure {
  return {
    kind,
    seed: mutant.seed,
    index: mutant.index,
    caseId: mutant.caseId,
    input: mutant.input.name,
    steps: mutant.steps,
    decoder,
    detail,
  };
}

async function _replay(
  inputs: FuzzInput[],
  context: FuzzContext,
  options: _ChildOptions,
): Promise<void> {
  const mutant = makeMutant(inputs, options.seed, options.replay as number);
  console.log(
    `case ${mutant.caseId}: ${mutant.input.name} (${mutant.input.kind}), ${mutant.bytes.length} bytes`,
  );
  console.log(`mutations: ${mutant.steps.join(", ")}`);
  if (options.save !== null) {
    await Deno.writeFile(options.save, mutant.bytes);
    console.log(`saved to ${options.save}`);
  }
  let failed = false;
  for (const decoder of DECODERS[mutant.input.kind]) {
    const outcome = await context.run(decoder, mutant.bytes, options.budgetMs);
    failed ||= outcome.problem !== null;
    console.log(
      `${decoder}: ${outcome.label} in ${outcome.ms.toFixed(1)} ms${
        outcome.problem === null
          ? ""
          : ` — NOT ALLOWED (${outcome.problem.kind}): ${outcome.problem.detail}`
      }`,
    );
    if (outcome.error !== null) {
      let e: unknown = outcome.error;
      for (let depth = 0; e !== undefined && depth < 10; depth++) {
        console.log(`  ${e instanceof Error ? e.stack : String(e)}`.replaceAll("\n", "\n  "));
        e = e instanceof Error ? e.cause : undefined;
      }
    }
  }
  if (failed) Deno.exitCode = 1;
}

// --- the supervisor: runs the child, watches it, merges what it reports ----------------------

/** Options of {@linkcode superviseFuzz}. */
export interface FuzzOptions {
  /** Seed of the run. */
  seed: number;
  /** Index of the first mutant. Default 0. */
  from?: number;
  /** How many mutants. Default: as many as fit in `seconds`. */
  count?: number;
  /** Time budget of the whole run, in seconds. Default: none (then `count` is required). */
  seconds?: number;
  /** The shared fixtures folder. */
  fixtures: string;
  /** Longest a single decoder call may take, in ms. Default 5,000. */
  budgetMs?: number;
  /** Longest the child may go without reporting progress before it counts as hung. Default 30,000 ms. */
  hangMs?: number;
  /** Most the child's resident memory may grow, in MB. Default 512. */
  maxRssMb?: number;
  /** Test hook: make mutant `at` hang or crash the child, to prove both are caught. */
  inject?: { what: "hang" | "crash"; at: number };
  /** Called after every mutant. */
  onMutant?: (done: number) => void;
}

/** What a fuzz run did. */
export interface FuzzSummary {
  /** The seed. */
  seed: number;
  /** Index of the first mutant. */
  from: number;
  /** Mutants run to the end (a hung or crashed one is not counted). */
  mutants: number;
  /** Wall time. */
  seconds: number;
  /** Mutants per seed input. */
  perInput: Record<string, number>;
  /** Per decoder: how many mutants, and how many of each outcome. */
  perDecoder: Record<string, { runs: number; outcomes: Record<string, number> }>;
  /** Every disallowed outcome. */
  failures: FuzzFailure[];
  /** Child processes started (more than one after a hang or a crash). */
  processes: number;
}

const CHILD = fileURLToPath(import.meta.url);
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Run a fuzz campaign in child processes, restarting after a hang or a crash.
 *
 * @param options Seed, size, limits.
 * @returns The summary, failures included.
 */
export async function superviseFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  if (options.count === undefined && options.seconds === undefined) {
    throw new TypeError("superviseFuzz needs a count or a duration");
  }
  const started = performance.now();
  const deadline = options.seconds === undefined ? Infinity : started + options.seconds * 1000;
  const from = options.from ?? 0;
  const end = options.count === undefined ? Number.MAX_SAFE_INTEGER : from + options.count;
  const summary: FuzzSummary = {
    seed: options.seed,
    from,
    mutants: 0,
    seconds: 0,
    perInput: {},
    perDecoder: {},
    failures: [],
    processes: 0,
  };
  const dir = await Deno.makeTempDir({ prefix: "lsst-fuzz-" });
  try {
    let next = from;
    while (next < end && performance.now() < deadline) {
      const left = deadline === Infinity ? 1e9 : Math.max(1, (deadline - performance.now()) / 1000);
      next = await _runChild(options, summary, dir, next, end - next, left);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

async function _runChild(
  options: FuzzOptions,
  summary: FuzzSummary,
  dir: string,
  from: number,
  count: number,
  seconds: number,
): Promise<number> {
  summary.processes++;
  const args = [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--v8-flags=--max-old-space-size=2048",
    CHILD,
    `--seed=${options.seed}`,
    `--from=${from}`,
    `--count=${count}`,
    `--seconds=${seconds}`,
    `--fixtures=${options.fixtures}`,
    `--dir=${dir}`,
    `--budget-ms=${options.budgetMs ?? 5000}`,
    `--max-rss-mb=${options.maxRssMb ?? 512}`,
    ...(options.inject ? [`--inject=${options.inject.what}@${options.inject.at}`] : []),
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const hangMs = options.hangMs ?? 30_000;
  let current: number | null = null;
  let next: number | null = null;
  let hung = false;
  let started = false;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      hung = true;
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, hangMs);
  };
  arm();
  const inputs = new Map<number, string>();
  const seen = new Set<string>();
  try {
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(_lineSplitter());
    for await (const line of lines) {
      arm();
      const [tag, rest = ""] = [line.slice(0, 1), line.slice(2)];
      if (tag === "B") {
        current = Number(rest);
        started = true;
      } else if (tag === "F") {
        const failure = JSON.parse(rest) as FuzzFailure;
        const key = `${failure.caseId} ${failure.decoder} ${failure.kind}`;
        if (!seen.has(key)) summary.failures.push(failure);
        seen.add(key);
      } else if (tag === "E") {
        const space = rest.indexOf(" ");
        const index = Number(rest.slice(0, space));
        const { input, outcomes } = JSON.parse(rest.slice(space + 1)) as {
          input: string;
          outcomes: Record<string, string>;
        };
        inputs.set(index, input);
        summary.mutants++;
        summary.perInput[input] = (summary.perInput[input] ?? 0) + 1;
        for (const [decoder, label] of Object.entries(outcomes)) {
          const entry = summary.perDecoder[decoder] ??= { runs: 0, outcomes: {} };
          entry.runs++;
          entry.outcomes[label] = (entry.outcomes[label] ?? 0) + 1;
        }
        current = null;
        options.onMutant?.(summary.mutants);
      } else if (tag === "D") {
        next = (JSON.parse(rest) as { next: number }).next;
      }
    }
  } finally {
    clearTimeout(watchdog);
  }
  const status = await child.status;
  const errors = (await stderr).trim().split("\n").slice(-8).join("\n");
  if (next !== null && status.success) return next;
  if (!started && !hung) {
    // Not a case's fault (missing fixtures, a syntax error): retrying would fail the same way.
    throw new Error(`The fuzz child failed before its first case (code ${status.code}): ${errors}`);
  }
  // No summary: the child hung (and was killed) or crashed in case `current`.
  const index = current ?? from;
  summary.failures.push({
    kind: hung ? "hang" : "crash",
    seed: options.seed,
    index,
    caseId: `${options.seed}:${index}`,
    input: inputs.get(index) ?? "(see the replay)",
    steps: [],
    decoder: null,
    detail: hung
      ? `no progress for ${hangMs} ms: the child was killed`
      : `the child exited with code ${status.code}${status.signal ? ` (${status.signal})` : ""}${
        errors ? `: ${errors}` : ""
      }`,
  });
  return index + 1;
}

function _lineSplitter(): TransformStream<string, string> {
  let pending = "";
  return new TransformStream({
    transform(chunk, controller) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line !== "") controller.enqueue(line);
    },
    flush(controller) {
      if (pending !== "") controller.enqueue(pending);
    },
  });
}

/**
 * A failure in words, with the command that replays it.
 *
 * @param failure The failure.
 * @returns One line.
 */
export function describeFailure(failure: FuzzFailure): string {
  return `${failure.kind} in ${
    failure.decoder ?? "the run"
  } on case ${failure.caseId} (${failure.input}${
    failure.steps.length ? `, ${failure.steps.join(", ")}` : ""
  }): ${failure.detail} — replay: deno task fuzz --seed ${failure.seed} --case ${failure.index}`;
}

// --- helpers -----------------------------------------------------------------------------------

function _isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

function _readVarint(bytes: Uint8Array, at: number): { value: bigint; end: number } | null {
  let n = 0n;
  for (let i = 0; i < 10; i++) {
    const byte = bytes[at + i];
    if (byte === undefined) return null;
    n |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) return { value: (n >> 1n) ^ -(n & 1n), end: at + i + 1 };
  }
  return null;
}

function _writeVarint(value: bigint): Uint8Array {
  let n = BigInt.asUintN(64, value >= 0n ? value << 1n : ((-value) << 1n) - 1n);
  const out: number[] = [];
  do {
    const low = Number(n & 0x7fn);
    n >>= 7n;
    out.push(n > 0n ? low | 0x80 : low);
  } while (n > 0n);
  return new Uint8Array(out);
}

function _splice(bytes: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length - remove + insert.length);
  out.set(bytes.subarray(0, at));
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.length);
  return out;
}

function _concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function _flags(args: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (const arg of args) {
    const match = /^--([\w-]+)(?:=(.*))?$/.exec(arg);
    if (match) flags.set(match[1] as string, match[2] ?? "true");
  }
  return flags;
}

if (import.meta.main) {
  const flags = _flags(Deno.args);
  const number = (key: string, fallback: number) => {
    const value = flags.get(key);
    return value === undefined ? fallback : Number(value);
  };
  const inject = flags.get("inject");
  const [what, at] = inject?.split("@") ?? [];
  let ownDir: string | null = null;
  try {
    await _child({
      seed: number("seed", 1),
      from: number("from", 0),
      count: number("count", 1000),
      seconds: number("seconds", 1e9),
      fixtures: flags.get("fixtures") ?? join(REPO_ROOT, "..", "shared", "fixtures"),
      dir: flags.get("dir") ?? (ownDir = await Deno.makeTempDir({ prefix: "lsst-fuzz-" })),
      budgetMs: number("budget-ms", 5000),
      maxRssMb: number("max-rss-mb", 512),
      replay: flags.has("case") ? number("case", 0) : null,
      save: flags.get("save") ?? null,
      inject: what === undefined ? null : { what: what as "hang" | "crash", at: Number(at) },
    });
  } finally {
    if (ownDir !== null) await Deno.remove(ownDir, { recursive: true });
  }
}
