/**
 * A minimal LSST-shaped alert schema for tests that need no fixtures: the fields the LSST
 * mapping reads, under Rubin's naming and in a namespace (`lsst.v99_0`) no real schema uses.
 * The official schemas are exercised by the tests that read the shared fixtures.
 *
 * @module
 */

/** What a test's schema carries beyond the ids, time and position. */
export interface MinimalSchemaOptions {
  /** A `ssObjectReassocTimeMjdTai` field in each DIASource. */
  reassocTime?: boolean;
  /** A `cutoutDifference` field in the alert. */
  cutout?: boolean;
}

/**
 * The schema, as the JSON object avsc and the Avro writers take.
 *
 * @param options Optional fields.
 * @returns The alert record schema.
 */
export function minimalLsstSchema(options: MinimalSchemaOptions = {}): Record<string, unknown> {
  const source = {
    type: "record",
    name: "diaSource",
    namespace: "lsst.v99_0",
    fields: [
      { name: "diaSourceId", type: "long" },
      { name: "diaObjectId", type: ["null", "long"], default: null },
      { name: "ssObjectId", type: ["null", "long"], default: null },
      { name: "midpointMjdTai", type: "double" },
      { name: "ra", type: "double" },
      { name: "dec", type: "double" },
      ...(options.reassocTime
        ? [{ name: "ssObjectReassocTimeMjdTai", type: ["null", "double"], default: null }]
        : []),
    ],
  };
  return {
    type: "record",
    name: "alert",
    namespace: "lsst.v99_0",
    fields: [
      { name: "diaSourceId", type: "long" },
      { name: "diaSource", type: source },
      {
        name: "prvDiaSources",
        type: ["null", { type: "array", items: "lsst.v99_0.diaSource" }],
        default: null,
      },
      ...(options.cutout
        ? [{ name: "cutoutDifference", type: ["null", "bytes"], default: null }]
        : []),
    ],
  };
}
