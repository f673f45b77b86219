/**
 * A minimal FITS image writer (FITS Standard 4.0: 80-character cards, 2880-byte blocks,
 * big-endian data). Enough to write multi-HDU cutouts like Rubin's.
 *
 * @module
 */

/** A header value: strings are quoted, booleans become `T`/`F`. */
export type FitsValue = string | number | bigint | boolean;

/** One header card beyond the mandatory ones. */
export interface FitsCard {
  /** Keyword, at most 8 characters of `A-Z 0-9 - _`. */
  key: string;
  /** Value; omitted for commentary keywords such as `COMMENT`. */
  value?: FitsValue;
  /** Comment after the value, or the text of a commentary card. */
  comment?: string;
}

/** Pixel arrays the writer supports, with their BITPIX. */
export type FitsPixels = Uint8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** One 2-D image HDU. */
export interface FitsImage {
  /** Columns (NAXIS1). */
  width: number;
  /** Rows (NAXIS2). */
  height: number;
  /** Pixels in row order, `width * height` values. */
  data: FitsPixels;
  /** Extra cards written after the mandatory ones (`EXTNAME`, `BUNIT`, WCS…). Default none. */
  cards?: readonly FitsCard[];
}

/** The FITS block size in bytes. */
export const FITS_BLOCK = 2880;
const CARD = 80;
const KEYWORD = /^[A-Z0-9_-]{1,8}$/;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * Encode images as one FITS file: the first is the primary HDU, the others IMAGE extensions.
 *
 * @param images At least one image.
 * @returns The file's bytes, a whole number of 2880-byte blocks.
 * @example
 * ```ts
 * import { encodeFits } from "./fits_writer.ts";
 * const bytes = encodeFits([{ width: 2, height: 2, data: new Float32Array(4) }]);
 * bytes.length; // 5760
 * ```
 */
export function encodeFits(images: readonly FitsImage[]): Uint8Array {
  if (images.length === 0) throw new RangeError("Cannot write a FITS file without an image");
  const parts = images.map((image, index) => _encodeHdu(image, index, images.length > 1));
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function _bitpix(data: FitsPixels): number {
  if (data instanceof Uint8Array) return 8;
  if (data instanceof Int16Array) return 16;
  if (data instanceof Int32Array) return 32;
  if (data instanceof Float32Array) return -32;
  return -64;
}

function _encodeHdu(image: FitsImage, index: number, extend: boolean): Uint8Array {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`Cannot write FITS image ${index}: invalid size ${width}x${height}`);
  }
  if (data.length !== width * height) {
    throw new RangeError(
      `Cannot write FITS image ${index}: ${data.length} pixels for a ${width}x${height} image`,
    );
  }
  const bitpix = _bitpix(data);
  const cards: FitsCard[] = index === 0
    ? [{ key: "SIMPLE", value: true, comment: "conforms to FITS standard" }]
    : [{ key: "XTENSION", value: "IMAGE", comment: "Image extension" }];
  cards.push(
    { key: "BITPIX", value: bitpix, comment: "array data type" },
    { key: "NAXIS", value: 2, comment: "number of array dimensions" },
    { key: "NAXIS1", value: width },
    { key: "NAXIS2", value: height },
  );
  if (index === 0) {
    if (extend) cards.push({ key: "EXTEND", value: true });
  } else {
    cards.push({ key: "PCOUNT", value: 0 }, { key: "GCOUNT", value: 1 });
  }
  cards.push(...(image.cards ?? []));

  const headerLength = _padded((cards.length + 1) * CARD);
  const dataLength = _padded(data.length * data.BYTES_PER_ELEMENT);
  const out = new Uint8Array(headerLength + dataLength);
  out.fill(0x20, 0, headerLength);
  cards.forEach((card, i) => _writeAscii(out, i * CARD, formatFitsCard(card)));
  _writeAscii(out, cards.length * CARD, "END");
  _writePixels(out, headerLength, data);
  return out;
}

function _padded(length: number): number {
  return Math.ceil(length / FITS_BLOCK) * FITS_BLOCK;
}

function _writeAscii(out: Uint8Array, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) out[offset + i] = text.charCodeAt(i);
}

// FITS data is big-endian. A copy in the pixels' own type (bit for bit) and then one pass of
// byte swaps costs a tenth of a DataView call per pixel.
function _writePixels(out: Uint8Array, offset: number, data: FitsPixels): void {
  const step = data.BYTES_PER_ELEMENT;
  // out is a fresh buffer and offset a multiple of 2880, so every typed view is aligned.
  if (data instanceof Float32Array) new Float32Array(out.buffer, offset, data.length).set(data);
  else if (data instanceof Float64Array) {
    new Float64Array(out.buffer, offset, data.length).set(data);
  } else if (data instanceof Int32Array) new Int32Array(out.buffer, offset, data.length).set(data);
  else if (data instanceof Int16Array) new Int16Array(out.buffer, offset, data.length).set(data);
  else out.set(data, offset);
  if (step === 1 || !LITTLE_ENDIAN) return;
  if (step === 2) {
    const words = new Uint16Array(out.buffer, offset, data.length);
    for (let i = 0; i < words.length; i++) {
      const word = words[i]!;
      words[i] = (word << 8) | (word >>> 8);
    }
    return;
  }
  const words = new Uint32Array(out.buffer, offset, (data.length * step) / 4);
  if (step === 4) {
    for (let i = 0; i < words.length; i++) words[i] = _swap32(words[i]!);
    return;
  }
  for (let i = 0; i < words.length; i += 2) {
    const low = words[i]!;
    words[i] = _swap32(words[i + 1]!);
    words[i + 1] = _swap32(low);
  }
}

function _swap32(word: number): number {
  return (word << 24) | ((word & 0xff00) << 8) | ((word >>> 8) & 0xff00) | (word >>> 24);
}

/**
 * Format one card in FITS fixed format: keyword in columns 1–8, `= ` in 9–10, numbers and
 * logicals right-aligned to column 30, strings quoted from column 11.
 *
 * @param card The card.
 * @returns Exactly 80 ASCII characters.
 * @example
 * ```ts
 * import { formatFitsCard } from "./fits_writer.ts";
 * formatFitsCard({ key: "EXTNAME", value: "UNCERT" }).trimEnd(); // "EXTNAME = 'UNCERT  '"
 * ```
 */
export function formatFitsCard(card: FitsCard): string {
  if (!KEYWORD.test(card.key)) throw new RangeError(`Invalid FITS keyword "${card.key}"`);
  let text: string;
  if (card.value === undefined) {
    text = card.key.padEnd(8) + (card.comment ?? "");
  } else {
    text = card.key.padEnd(8) + "= " + _formatValue(card.key, card.value);
    if (card.comment !== undefined) text += " / " + card.comment;
  }
  if (!/^[\x20-\x7e]*$/.test(text)) {
    throw new RangeError(`FITS card "${card.key}" holds characters outside printable ASCII`);
  }
  if (text.length > CARD) {
    throw new RangeError(`FITS card "${card.key}" is longer than 80 characters`);
  }
  return text.padEnd(CARD);
}

function _formatValue(key: string, value: FitsValue): string {
  if (typeof value === "string") {
    return `'${value.replaceAll("'", "''").padEnd(8)}'`.padEnd(20);
  }
  if (typeof value === "boolean") return (value ? "T" : "F").padStart(20);
  if (typeof value === "bigint") return value.toString().padStart(20);
  if (!Number.isFinite(value)) {
    throw new RangeError(`FITS card "${key}" cannot hold the non-finite value ${value}`);
  }
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value).padStart(20);
  return _formatReal(value).padStart(20);
}

function _formatReal(value: number): string {
  const text = String(value).toUpperCase();
  if (!text.includes("E")) return text.includes(".") ? text : `${text}.0`;
  const [mantissa = "", exponent = ""] = text.split("E");
  return `${mantissa.includes(".") ? mantissa : `${mantissa}.0`}E${exponent}`;
}
