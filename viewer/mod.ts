/**
 * `serve`: a local web viewer of alerts, cutouts, light curves and reassociations, over a
 * read-only connection to the database.
 *
 * @module
 */

export * from "./viewer_handler.ts";
export * from "./viewer_server.ts";
