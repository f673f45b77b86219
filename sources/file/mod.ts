/**
 * Alert files: Avro containers (decoded in a worker), Confluent-framed messages, CSV, gzip; a file, a folder or a glob.
 *
 * @module
 */

export * from "./file_source.ts";
