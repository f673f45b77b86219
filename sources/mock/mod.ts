/**
 * The mock stream: a simulated sky of recurring DIAObjects, solar-system alerts and APDB reassociations, as v11.0 packets with FITS cutouts.
 *
 * @module
 */

export * from "./mock_source.ts";
