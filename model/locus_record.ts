/**
 * An ANTARES locus summary, as sources give it and storage keeps it.
 *
 * @module
 */

/** An ANTARES locus (an object ANTARES tracks, with its own id), as the `loci` table keeps it. */
export interface LocusRecord {
  /** ANTARES locus id, such as `ANT2026rq61krn5dipt`. */
  locusId: string;
  /** Right ascension (deg). */
  ra: number;
  /** Declination (deg). */
  dec: number;
  /** HTM level-16 index, when given. */
  htm16: bigint | null;
  /** ANTARES tags (filter results). */
  tags: string[];
  /** Catalog names the locus matched, when given. */
  catalogs: string[];
  /** Every locus property, as JSON text with exact 64-bit integers. */
  properties: string;
  /** The newest alert id ANTARES reports for the locus (`lsst:<diaSourceId>`), when known. */
  newestAlertId: string | null;
}
