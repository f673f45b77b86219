/**
 * An alert as a batch stores it: the record, its cutout paths and its payload.
 *
 * @module
 */

import type { AlertRecord } from "./alert_record.ts";
import type { CutoutPaths } from "./cutout_paths.ts";
import type { RawPayload } from "./raw_payload.ts";

/** An alert to store with the paths of its cutout files. */
export interface StoredAlert {
  /** The alert; tracking sets its reassociation fields. */
  alert: AlertRecord;
  /** Its cutout files. */
  cutouts: CutoutPaths;
  /** The Avro payload to keep (`--keep-raw`), or `null`/absent to keep none. */
  raw?: RawPayload | null;
}
