/**
 * Where alerts come from: the source contract and the transports (mock, file, Kafka, ANTARES).
 *
 * @module
 */

export * from "./alert_source.ts";
export * from "./mock/mod.ts";
export * from "./file/mod.ts";
export * from "./kafka/mod.ts";
export * from "./antares/mod.ts";
