/**
 * Survey formats: LSST (5.0–11.1) and ZTF packets, ANTARES loci and alerts, and CSV rows mapped to AlertRecord; alert schema lookup (embedded, --schema-dir, registry, the schemas table); whole packets decoded from kept payloads.
 *
 * @module
 */

export * from "./antares_alert.ts";
export * from "./antares_locus.ts";
export * from "./csv_alerts.ts";
export * from "./lsst_packet.ts";
export * from "./raw_alert.ts";
export * from "./schema_resolver.ts";
export * from "./ztf_packet.ts";
export * from "./ztf_schema.ts";
