/**
 * Where a record sits in its stream: what a source yields with each record and storage keeps.
 *
 * @module
 */

/**
 * Where a record sits in its source. A source is made of independent streams (a file, a Kafka
 * partition); `position` orders records within one stream.
 */
export interface SourceCursor {
  /** The stream: a file path, `topic/partition`, or the mock's seed key. */
  stream: string;
  /** Position of this record in the stream (record index or offset), as a decimal string. */
  position: string;
  /**
   * Further records of the same message follow with this position (a locus with several
   * alerts): the position is stored only with the last of them, so a batch that ends mid-message
   * never marks the message done. Default `false`.
   */
  more?: boolean;
  /**
   * What the position points into, stored with it so a later run can tell whether the stream
   * is still the same one: `cluster=<id> topic=<id>` for a Kafka partition, `size=<bytes>
   * head=<SHA-256 of the first 64 KiB>` for a file. Default: unknown.
   */
  identity?: string;
}
