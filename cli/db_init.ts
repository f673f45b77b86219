/**
 * `lsst-extendedness db-init`: create or migrate the database.
 *
 * @module
 */

import { type Command, COMMON } from "./_flags.ts";
import { print } from "./_output.ts";
import { withStorage } from "./_storage.ts";

/** The db-init command; the only command besides ingest that creates a database. */
export const dbInitCommand: Command = {
  options: COMMON,
  positionals: 0,
  run: (flags) =>
    withStorage(flags, async (storage) => {
      await storage.initialize();
      print(
        flags,
        { database: storage.location, initialized: true },
        () => `Database "${storage.location}" is ready`,
      );
      return 0;
    }, { create: true }),
};
