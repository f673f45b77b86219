/**
 * What the end-to-end tests on the real Kafka broker share: the broker's addresses from the
 * `KAFKA_*` variables `deno task kafka start` prints, its SASL user, unique names, a client,
 * running the CLI as a child process, and searching a folder for a leaked secret.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { join } from "node:path";
import { KafkaClient } from "../sources/kafka/_kafka_client.ts";
import { REPO_ROOT } from "./_support.ts";

/** PLAINTEXT listener, or `""` when no broker was started. */
export const BOOTSTRAP: string = Deno.env.get("KAFKA_BOOTSTRAP") ?? "";
/** SASL_PLAINTEXT listener with mechanism PLAIN. */
export const SASL_PLAIN_BOOTSTRAP: string = Deno.env.get("KAFKA_SASL_PLAIN_BOOTSTRAP") ?? "";
/** SASL_PLAINTEXT listener with mechanism SCRAM-SHA-512. */
export const SASL_SCRAM_BOOTSTRAP: string = Deno.env.get("KAFKA_SASL_SCRAM_BOOTSTRAP") ?? "";
/** SASL_SSL listener with mechanism PLAIN, its certificate made out to "kafka.test" (ANTARES-like). */
export const SASL_SSL_BOOTSTRAP: string = Deno.env.get("KAFKA_SASL_SSL_BOOTSTRAP") ?? "";
/** PEM file of the CA that signed the SASL_SSL listener's certificate. */
export const CA_FILE: string = Deno.env.get("KAFKA_CA_FILE") ?? "";
/** The SASL user scripts/kafka.sh creates. */
export const SASL_USER = "alerts";
/** Its password. */
export const SASL_PASSWORD = "alerts-secret";

/**
 * A topic or group name no other test (or earlier run on a reused broker) has used.
 *
 * @param label What it is for.
 * @returns `lsst-test-<label>-<8 hex digits>`.
 */
export function unique(label: string): string {
  return `lsst-test-${label}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * A client of the test broker, to create topics and produce messages.
 *
 * @param bootstrap The listener.
 * @param sasl Log in with PLAIN as the SASL user (for the SASL listeners). Default `false`.
 * @returns The client.
 */
export function kafkaClient(bootstrap: string, sasl = false): KafkaClient {
  return new KafkaClient({
    brokers: [bootstrap],
    clientId: "lsst-kafka-test",
    ...(sasl ? { sasl: { mechanism: "plain", username: SASL_USER, password: SASL_PASSWORD } } : {}),
  });
}

/** How a CLI run ended. */
export interface CliResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
  /** Wall time from spawn to exit. */
  seconds: number;
}

const CLI = join(REPO_ROOT, "cli.ts");
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];

/**
 * Start the CLI in a child process; it inherits this process's environment plus `env`.
 *
 * @param args Its arguments.
 * @param env Variables to add or override.
 * @returns The child, with piped output.
 */
export function spawnCli(args: string[], env: Record<string, string> = {}): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, CLI, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Wait for a child to exit.
 *
 * @param child The child.
 * @param started `performance.now()` when it was spawned.
 * @returns Its exit code, output and wall time.
 */
export async function finished(child: Deno.ChildProcess, started: number): Promise<CliResult> {
  const out = await child.output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Run the CLI to its end, killing it after a minute so a hang fails the test.
 *
 * @param args Its arguments.
 * @param env Variables to add or override.
 * @returns Its exit code, output and wall time.
 */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const started = performance.now();
  const child = spawnCli(args, env);
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    return await finished(child, started);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stop a child that a failed assertion left running; never throws.
 *
 * @param child The child.
 */
export async function reap(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already exited.
  }
  await child.status;
}

/**
 * Every file under a folder whose bytes hold a text (databases, WAL files, locks, cutouts).
 *
 * @param dir The folder, searched recursively.
 * @param text What must not be written, such as a password.
 * @returns The paths of the files that hold it.
 */
export async function filesHolding(dir: string, text: string): Promise<string[]> {
  const needle = Buffer.from(text);
  const found: string[] = [];
  for await (const file of _walk(dir)) {
    const bytes = await Deno.readFile(file);
    if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(needle)) {
      found.push(file);
    }
  }
  return found;
}

async function* _walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* _walk(path);
    else if (entry.isFile) yield path;
  }
}
