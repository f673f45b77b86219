/**
 * Command-line flags: the option sets commands share, the parser every command goes through, and
 * the checks that turn a flag's text into a value or a `UsageError` (exit code 2).
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { UsageError } from "../mod.ts";

/** Parsed flags by long name; a flag not given is absent. */
export type Flags = Record<string, string | boolean | string[] | undefined>;

/** What a command declares so the entry point can parse its arguments and run it. */
export interface Command {
  /** The options it accepts. */
  readonly options: ParseArgsOptionsConfig;
  /** How many positional arguments it takes (a SQL statement, an alert id, a subcommand). */
  readonly positionals: 0 | 1;
  /**
   * Run it.
   *
   * @param flags The parsed flags.
   * @param positionals The positional arguments, at most `positionals` of them.
   * @returns The process exit code.
   */
  run(flags: Flags, positionals: readonly string[]): Promise<number>;
}

/** Options every command takes. */
export const COMMON = {
  db: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** How to reach a Kafka cluster: ingest --source kafka and kafka-lag take the same options. */
export const KAFKA = {
  "bootstrap-servers": { type: "string" },
  topic: { type: "string", multiple: true },
  "group-id": { type: "string" },
  "sasl-mechanism": { type: "string" },
  username: { type: "string" },
  password: { type: "string" },
  tls: { type: "boolean" },
  "ca-file": { type: "string" },
} as const;

/**
 * Parse a command's arguments.
 *
 * @param name The command, for messages.
 * @param command What it accepts.
 * @param args The arguments after the command name.
 * @returns The flags and the positional arguments.
 */
export function parseFlags(
  name: string,
  command: Command,
  args: string[],
): { flags: Flags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: command.options,
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length > command.positionals) {
      throw new UsageError(
        `Unexpected argument "${positionals[command.positionals]}" for "${name}"`,
      );
    }
    return { flags: values as Flags, positionals };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`Invalid options for "${name}": ${(error as Error).message}`);
  }
}

/**
 * A flag that needs text, if given.
 *
 * @param flags The parsed flags.
 * @param name The flag's long name.
 * @returns Its text, or `undefined` when it was not given.
 */
export function text(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new UsageError(`Option --${name} needs a value`);
  }
  return value;
}

/**
 * A flag the command cannot run without.
 *
 * @param flags The parsed flags.
 * @param name The flag's long name.
 * @param message The usage error when it is missing.
 * @returns Its text.
 */
export function required(flags: Flags, name: string, message: string): string {
  const value = text(flags, name);
  if (value === undefined) throw new UsageError(message);
  return value;
}

/**
 * A whole-number flag, written in decimal digits only so "1e3" or "0x10" are refused.
 *
 * @param flags The parsed flags.
 * @param name The flag's long name.
 * @param fallback The value when it was not given.
 * @param min The smallest value accepted.
 * @returns The number.
 */
export function integer(flags: Flags, name: string, fallback: number, min: number): number {
  const value = flags[name];
  if (value === undefined) return fallback;
  const number = Number(value);
  if (
    typeof value !== "string" || !/^\d+$/.test(value) || !Number.isSafeInteger(number) ||
    number < min
  ) {
    throw new UsageError(`Option --${name} needs an integer of at least ${min}: "${value}"`);
  }
  return number;
}

/**
 * A duration flag in seconds, fractions allowed.
 *
 * @param flags The parsed flags.
 * @param name The flag's long name.
 * @returns The seconds, or `undefined` when it was not given.
 */
export function seconds(flags: Flags, name: string): number | undefined {
  const value = flags[name];
  if (value === undefined) return undefined;
  const number = Number(value);
  if (typeof value !== "string" || value.trim() === "" || !Number.isFinite(number) || number <= 0) {
    throw new UsageError(`Option --${name} needs a positive number of seconds: "${value}"`);
  }
  return number;
}

/**
 * The non-empty values of the repeated --topic.
 *
 * @param flags The parsed flags.
 * @returns The topics, possibly none.
 */
export function topics(flags: Flags): string[] {
  const topic = flags.topic;
  return Array.isArray(topic) ? topic.filter((t) => t !== "") : [];
}
