/**
 * Where alerts come from: the source contract, the mock stream, alert files (Avro containers,
 * Confluent-framed messages, CSV), and the LSST and ZTF packet mappings.
 *
 * @module
 */

export * from "./alert_source.ts";
export * from "./antares_alert.ts";
export * from "./antares_api.ts";
export * from "./antares_locus.ts";
export * from "./antares_source.ts";
export * from "./avro_projection.ts";
export * from "./avro_schema.ts";
export * from "./byte_stream.ts";
export * from "./csv_alerts.ts";
export * from "./file_source.ts";
export * from "./kafka_source.ts";
export * from "./lsst_packet.ts";
export * from "./mock_source.ts";
export * from "./quarantine_decoder.ts";
export * from "./raw_alert.ts";
export * from "./ocf_reader.ts";
export * from "./ocf_writer.ts";
export * from "./schema_resolver.ts";
export * from "./ztf_packet.ts";
export * from "./ztf_schema.ts";
