/**
 * The first record's value in a Kafka record batch's records (message format v2), read from the
 * bytes a codec has just decompressed, before kafkajs parses the batch. kafkajs parses a whole
 * fetch before it hands any message over (~70 ms for 4 MiB here); the message worker uses this
 * to ask for a new schema id meanwhile (see `_message_worker.ts`).
 *
 * A record: its length, attributes (1 byte), timestamp delta, offset delta, key length, key,
 * value length, value, headers; lengths and deltas are zigzag varints, a length of -1 is null.
 *
 * @module
 */

/**
 * The value of the first record, or `null` when it has none or the bytes do not hold a whole
 * record header and value (kafkajs's own parse reports damaged batches; this never throws).
 *
 * @param records The decompressed records of one batch.
 * @returns A view of the value's bytes.
 */
export function firstRecordValue(records: Uint8Array): Uint8Array | null {
  const at = { pos: 0 };
  const length = _zigzag(records, at, 5);
  if (length === null || length <= 0 || at.pos + length > records.length) return null;
  const end = at.pos + length;
  at.pos += 1; // attributes
  if (_zigzag(records, at, 10) === null || _zigzag(records, at, 5) === null) return null;
  const keyLength = _zigzag(records, at, 5);
  if (keyLength === null) return null;
  if (keyLength > 0) at.pos += keyLength;
  const valueLength = _zigzag(records, at, 5);
  if (valueLength === null || valueLength < 0 || at.pos + valueLength > end) return null;
  return records.subarray(at.pos, at.pos + valueLength);
}

// A zigzag varint of at most `limit` bytes; a timestamp delta may need 10, whose value is only
// skipped (its top bits are lost to 32-bit arithmetic, which is why it is never used).
function _zigzag(bytes: Uint8Array, at: { pos: number }, limit: number): number | null {
  let value = 0;
  for (let i = 0; i < limit; i++) {
    const byte = bytes[at.pos++];
    if (byte === undefined) return null;
    if (i < 5) value |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) === 0) return (value >>> 1) ^ -(value & 1);
  }
  return null;
}
