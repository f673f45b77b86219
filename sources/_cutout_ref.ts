/**
 * A cutout crossing between a decode worker and the thread that stores: an offset and length in
 * the bytes that cross with it (its views are not copied), or bytes of its own.
 *
 * @module
 */

/** An offset and length in the shared bytes, bytes of its own, or no cutout. */
export type CutoutRef = [number, number] | Uint8Array | null;

/**
 * How a cutout travels: as its place in `data` when it is a view of it.
 *
 * @param bytes The cutout.
 * @param data The bytes that cross with it.
 * @returns The reference.
 */
export function cutoutRef(bytes: Uint8Array | null, data: Uint8Array): CutoutRef {
  if (bytes === null) return null;
  if (bytes.buffer === data.buffer) return [bytes.byteOffset - data.byteOffset, bytes.length];
  return bytes;
}

/**
 * The cutout a reference names, as a view of `data` where it is one.
 *
 * @param ref The reference.
 * @param data The bytes that crossed with it.
 * @returns The cutout.
 */
export function cutoutView(ref: CutoutRef, data: Uint8Array): Uint8Array | null {
  if (ref === null || ref instanceof Uint8Array) return ref;
  return data.subarray(ref[0], ref[0] + ref[1]);
}
