/**
 * ANTARES: locus updates from its Kafka topics, their alerts from its HTTP API.
 *
 * @module
 */

export * from "./antares_api.ts";
export * from "./antares_source.ts";
