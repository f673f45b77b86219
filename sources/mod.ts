/**
 * Where alerts come from: the source contract, the LSST packet mapping and the mock stream.
 *
 * @module
 */

export * from "./alert_source.ts";
export * from "./lsst_packet.ts";
export * from "./mock_source.ts";
