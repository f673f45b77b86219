/**
 * Kafka: the Rubin stream or any topic of LSST or ZTF alerts, consumed as a group member, committed after storage.
 *
 * @module
 */

export * from "./kafka_source.ts";
