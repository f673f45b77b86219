// deno-lint-ignore-file no-console
/**
 * `deno task fuzz [--seconds N] [--seed S] [--from I]`: the decoder fuzzer of `tests/_fuzz.ts`
 * for longer than the test suite runs it (default 120 s, a random seed that is printed), then a
 * summary: mutants per decoder and input, outcomes, and every disallowed outcome with the
 * command that replays it. Exits with 1 when there is one.
 *
 * `deno task fuzz --seed S --case I [--save FILE]` replays one mutant: its mutations, each
 * decoder's outcome and the full error, and optionally its bytes.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { describeFailure, type FuzzSummary, superviseFuzz } from "../tests/_fuzz.ts";
import { fixturesDir } from "./_fixtures.ts";

const USAGE = "deno task fuzz [--seconds N] [--seed S] [--from I] [--budget-ms MS] | " +
  "--seed S --case I [--save FILE]";

function flags(args: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const match = /^--([\w-]+)(?:=(.*))?$/.exec(args[i] as string);
    if (match === null) throw new Error(`Unexpected argument "${args[i]}": ${USAGE}`);
    const key = match[1] as string;
    const value = match[2] ?? args[i + 1];
    if (match[2] === undefined) i++;
    if (value === undefined) throw new Error(`Option --${key} needs a value: ${USAGE}`);
    out.set(key, value);
  }
  return out;
}

function integer(options: Map<string, string>, key: string, fallback: number): number {
  const text = options.get(key);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`Option --${key} needs a whole number, not "${text}"`);
  }
  return value;
}

function table(summary: FuzzSummary): string {
  const lines: string[] = [];
  const rate = summary.mutants / Math.max(summary.seconds, 1e-9);
  lines.push(
    `seed ${summary.seed}, cases ${summary.from}–${summary.from + summary.mutants - 1}: ` +
      `${summary.mutants} mutants in ${summary.seconds.toFixed(1)} s (${rate.toFixed(0)}/s), ` +
      `${summary.processes} process${summary.processes === 1 ? "" : "es"}`,
  );
  lines.push("", "decoder              runs  outcomes");
  for (const [decoder, { runs, outcomes }] of Object.entries(summary.perDecoder).sort()) {
    const shown = Object.entries(outcomes).sort((a, b) => b[1] - a[1])
      .map(([label, n]) => `${label} ${n}`).join(", ");
    lines.push(`${decoder.padEnd(19)} ${String(runs).padStart(6)}  ${shown}`);
  }
  lines.push("", `${"input".padEnd(50)} mutants`);
  for (const [input, n] of Object.entries(summary.perInput).sort()) {
    lines.push(`${input.padEnd(50)} ${String(n).padStart(7)}`);
  }
  lines.push(
    "",
    summary.failures.length === 0
      ? "no disallowed outcome"
      : `${summary.failures.length} disallowed outcome(s):`,
  );
  for (const failure of summary.failures) lines.push(`  ${describeFailure(failure)}`);
  return lines.join("\n");
}

const options = flags(Deno.args);
const fixtures = fixturesDir();
const seed = integer(options, "seed", crypto.getRandomValues(new Uint32Array(1))[0] as number);

if (options.has("case")) {
  const child = fileURLToPath(new URL("../tests/_fuzz.ts", import.meta.url));
  const args = [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    child,
    `--seed=${seed}`,
    `--case=${integer(options, "case", 0)}`,
    `--fixtures=${fixtures}`,
    `--budget-ms=${integer(options, "budget-ms", 5000)}`,
    ...(options.has("save") ? [`--save=${options.get("save")}`] : []),
  ];
  const status = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
  Deno.exit(status.code);
}

const seconds = integer(options, "seconds", 120);
console.error(
  `fuzzing for ${seconds} s with seed ${seed} (replay a case: ${USAGE.split("| ")[1]})`,
);
let last = performance.now();
const summary = await superviseFuzz({
  seed,
  seconds,
  from: integer(options, "from", 0),
  fixtures,
  budgetMs: integer(options, "budget-ms", 5000),
  onMutant(done) {
    if (performance.now() - last > 10_000) {
      last = performance.now();
      console.error(`  ${done} mutants…`);
    }
  },
});
console.log(table(summary));
if (summary.failures.length > 0) Deno.exit(1);
