// deno-lint-ignore-file no-console
/**
 * `lsst-extendedness show-alert ID`: the whole packet of an alert ingested with --keep-raw.
 *
 * @module
 */

import { decodeRawAlert, stringifyExact, UsageError } from "../mod.ts";
import { type Command, COMMON } from "./_flags.ts";
import { withStorage } from "./_storage.ts";

/** The show-alert command: exact JSON on stdout, or exit code 1 when no payload was kept. */
export const showAlertCommand: Command = {
  options: COMMON,
  positionals: 1,
  run: async (flags, positionals) => {
    const id = positionals[0];
    if (id === undefined || !/^-?\d+$/.test(id)) {
      throw new UsageError(
        "show-alert needs the alert's DIASource id: show-alert 170094456272322680",
      );
    }
    return await withStorage(flags, async (storage) => {
      await storage.initialize();
      const raw = await storage.rawAlert(BigInt(id));
      if (raw === null) {
        console.error(
          `Alert ${id} has no kept payload in "${storage.location}": ingest it with --keep-raw`,
        );
        return 1;
      }
      console.log(stringifyExact(decodeRawAlert(raw), 2));
      return 0;
    });
  },
};
