/**
 * The Avro codec: bytes, schemas with exact 64-bit longs, compiled projections, Object Container Files. Knows nothing of alerts.
 *
 * @module
 */

export * from "./avro_projection.ts";
export * from "./avro_schema.ts";
export * from "./byte_stream.ts";
export * from "./ocf_reader.ts";
export * from "./ocf_writer.ts";
