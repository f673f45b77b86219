/**
 * An alert's Avro payload kept as it arrived, with its writer schema.
 *
 * @module
 */

import type { StoredSchema } from "./stored_schema.ts";

/** An alert's Avro payload as it arrived, with the writer schema that decodes it. */
export interface RawPayload {
  /** One Avro datum (no framing, no container). */
  payload: Uint8Array;
  /** Its writer schema. */
  schema: StoredSchema;
}
