/**
 * The reassociation rules (DOMAIN.md §3): what each observation of a DIASource fires, in time order whatever the arrival order.
 *
 * @module
 */

export * from "./reassociation_tracker.ts";
