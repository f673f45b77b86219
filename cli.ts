// deno-lint-ignore-file no-console
/**
 * The `lsst-extendedness` command line: parses arguments, calls the module, maps errors to exit
 * codes. It and the commands in `cli/` are the only places that print or exit.
 *
 * @module
 */

import { UsageError } from "./mod.ts";
import { type Command, parseFlags } from "./cli/_flags.ts";
import { USAGE, VERSION } from "./cli/_usage.ts";
import { dbInitCommand } from "./cli/db_init.ts";
import { dbStatsCommand } from "./cli/db_stats.ts";
import { exportCommand } from "./cli/export.ts";
import { ingestCommand } from "./cli/ingest.ts";
import { kafkaLagCommand } from "./cli/kafka_lag.ts";
import { quarantineCommand } from "./cli/quarantine.ts";
import { queryCommand } from "./cli/query.ts";
import { reassociationsCommand } from "./cli/reassociations.ts";
import { runsCommand } from "./cli/runs.ts";
import { serveCommand } from "./cli/serve.ts";
import { showAlertCommand } from "./cli/show_alert.ts";

// In the order an unknown command's message lists them.
const COMMANDS: Readonly<Record<string, Command>> = {
  ingest: ingestCommand,
  "show-alert": showAlertCommand,
  quarantine: quarantineCommand,
  "db-init": dbInitCommand,
  "db-stats": dbStatsCommand,
  query: queryCommand,
  runs: runsCommand,
  reassociations: reassociationsCommand,
  "kafka-lag": kafkaLagCommand,
  export: exportCommand,
  serve: serveCommand,
};

/**
 * Run the command line.
 *
 * @param args Arguments after the program name.
 * @returns The process exit code.
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * await main(["db-stats", "--db", ":memory:", "--json"]);
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  try {
    const [name, ...rest] = args;
    if (name === undefined || name === "help" || name === "--help" || name === "-h") {
      console.log(USAGE);
      return name === undefined ? 2 : 0;
    }
    if (name === "--version" || name === "version") {
      console.log(VERSION);
      return 0;
    }
    // Own properties only, so "constructor" or "__proto__" is an unknown command.
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (command === undefined) {
      throw new UsageError(
        `Unknown command "${name}": expected ${Object.keys(COMMANDS).join(", ")}`,
      );
    }
    const { flags, positionals } = parseFlags(name, command, rest);
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    return await command.run(flags, positionals);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}\nRun "lsst-extendedness --help" for usage.`);
      return error.exitCode;
    }
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
