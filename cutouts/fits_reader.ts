/**
 * A small, strict FITS reader for image files (FITS Standard 4.0): it walks the HDUs, checks
 * the structure and the mandatory keywords, and decodes pixels. It never allocates from a length
 * found in a header before checking that the bytes are there.
 *
 * @module
 */

import { FITS_BLOCK, type FitsPixels } from "./fits_writer.ts";

/** A parsed header value: quoted strings, integers and reals, `T`/`F` logicals. */
export type FitsHeaderValue = string | number | boolean;

/** The pixel types FITS allows (`BITPIX`). */
export type FitsBitpix = 8 | 16 | 32 | 64 | -32 | -64;

/** One header card as read. */
export interface FitsHeaderCard {
  /** Keyword, without trailing spaces; `""` for a blank card. */
  key: string;
  /**
   * Value: strings without quotes or trailing spaces, numbers, booleans; a complex value
   * (`(1.0, 2.0)`) is kept as its text. `null` for commentary cards and undefined values.
   */
  value: FitsHeaderValue | null;
  /** Text after the `/` of a valued card, or the text of a commentary card; `null` if none. */
  comment: string | null;
}

/** One header-data unit. */
export interface FitsHdu {
  /** Position in the file; 0 is the primary HDU. Error messages use the same numbering. */
  index: number;
  /** `XTENSION` (such as `"IMAGE"`), or `null` for the primary HDU. */
  xtension: string | null;
  /** `EXTNAME`, or `null` when absent. */
  extname: string | null;
  /** Pixel type. */
  bitpix: FitsBitpix;
  /** `NAXIS1`, `NAXIS2`, …: the fastest-varying axis first; empty when there is no data. */
  naxis: readonly number[];
  /** Every card before `END`, in file order. */
  cards: readonly FitsHeaderCard[];
  /** Valued keywords in file order; for a repeated keyword the first value wins. */
  header: ReadonlyMap<string, FitsHeaderValue>;
  /** Byte offset of the header. */
  headerOffset: number;
  /** Byte offset of the data. */
  dataOffset: number;
  /** Data size in bytes, without the padding to a whole block. */
  dataLength: number;
}

const CARD = 80;
const BITPIX_VALUES: readonly number[] = [8, 16, 32, 64, -32, -64];
const KEYWORD = /^[A-Z0-9_-]*$/;
const INTEGER = /^[+-]?\d+$/;
const REAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[EDed][+-]?\d+)?$/;
const COMPLEX = /^\(\s*[^,()]+,\s*[^,()]+\)$/;
const COMMENTARY = new Set(["", "COMMENT", "HISTORY"]);
// Maps each byte to one character; only slices whose bytes were checked printable are used.
const ASCII = new TextDecoder("latin1");

/**
 * Read and check the structure of a FITS file: every HDU's header and where its data lies.
 *
 * Mandatory keywords must appear in the standard's order; their values may be in free format,
 * because ZTF cutouts write `SIMPLE  =  T`. Extensions of any type are walked over; only
 * `IMAGE` ones have their `PCOUNT = 0` and `GCOUNT = 1` enforced.
 *
 * @param bytes The whole file.
 * @returns The HDUs in file order.
 * @throws {RangeError} When the bytes are not a valid FITS file; the message names the HDU.
 * @example
 * ```ts
 * import { encodeFits } from "./fits_writer.ts";
 * import { readFits } from "./fits_reader.ts";
 * const [hdu] = readFits(encodeFits([{ width: 3, height: 2, data: new Float32Array(6) }]));
 * hdu?.naxis; // [3, 2]
 * ```
 */
export function readFits(bytes: Uint8Array): FitsHdu[] {
  if (bytes.length === 0) throw new RangeError("Not a FITS file: the input is empty");
  if (bytes.length % FITS_BLOCK !== 0) {
    throw new RangeError(
      `Not a FITS file: its length ${bytes.length} is not a multiple of ${FITS_BLOCK}`,
    );
  }
  const hdus: FitsHdu[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const hdu = _readHdu(bytes, offset, hdus.length);
    hdus.push(hdu);
    offset = hdu.dataOffset + _padded(hdu.dataLength);
  }
  return hdus;
}

/**
 * Decode the pixels of an image HDU from big-endian to native numbers. `BSCALE` and `BZERO`
 * are not applied: the values are the stored ones.
 *
 * @param bytes The file the HDU was read from.
 * @param hdu An HDU returned by {@linkcode readFits} for these bytes.
 * @returns The pixels in file order (`NAXIS1` varies fastest), typed by `BITPIX`.
 * @throws {RangeError} For a non-image extension, 64-bit integer pixels, or an HDU whose data
 * lies outside `bytes`.
 * @example
 * ```ts
 * import { encodeFits } from "./fits_writer.ts";
 * import { fitsImage, readFits } from "./fits_reader.ts";
 * const bytes = encodeFits([{ width: 2, height: 1, data: new Int16Array([-1, 7]) }]);
 * const [hdu] = readFits(bytes);
 * if (hdu) fitsImage(bytes, hdu); // Int16Array [-1, 7]
 * ```
 */
export function fitsImage(bytes: Uint8Array, hdu: FitsHdu): FitsPixels {
  const what = `Cannot read the pixels of FITS HDU ${hdu.index}`;
  if (hdu.xtension !== null && hdu.xtension !== "IMAGE") {
    throw new RangeError(`${what}: it is a "${hdu.xtension}" extension, not an image`);
  }
  if (hdu.bitpix === 64) throw new RangeError(`${what}: 64-bit integer pixels are not supported`);
  const step = Math.abs(hdu.bitpix) / 8;
  if (
    !Number.isSafeInteger(hdu.dataOffset) || !Number.isSafeInteger(hdu.dataLength) ||
    hdu.dataOffset < 0 || hdu.dataLength % step !== 0 ||
    !(hdu.dataOffset + hdu.dataLength <= bytes.length)
  ) {
    throw new RangeError(`${what}: its data lies outside the given bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + hdu.dataOffset, hdu.dataLength);
  const count = hdu.dataLength / step;
  switch (hdu.bitpix) {
    case 8:
      return bytes.slice(hdu.dataOffset, hdu.dataOffset + hdu.dataLength);
    case 16: {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2);
      return out;
    }
    case 32: {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4);
      return out;
    }
    case -32: {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4);
      return out;
    }
    case -64: {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8);
      return out;
    }
  }
}

function _readHdu(bytes: Uint8Array, start: number, index: number): FitsHdu {
  const fail = (detail: string) => new RangeError(`Invalid FITS HDU ${index}: ${detail}`);
  // One decode per block, not per card: decoding dominates the cost of reading a header.
  let blockStart = -1;
  let block = "";
  const cardText = (pos: number, number: number): string => {
    _checkPrintable(bytes, pos, number, fail);
    const offset = pos % FITS_BLOCK;
    if (pos - offset !== blockStart) {
      blockStart = pos - offset;
      block = ASCII.decode(bytes.subarray(blockStart, blockStart + FITS_BLOCK));
    }
    return block.slice(offset, offset + CARD);
  };

  const first = _firstCard(() => _parseCard(cardText(start, 1), 1, fail), index, fail);
  const xtension = index === 0 ? null : String(first.value);
  const cards: FitsHeaderCard[] = [first];
  let pos = start + CARD;
  for (;;) {
    // The length is a multiple of 2880, so a missing card means the file ended first.
    if (pos + CARD > bytes.length) throw fail("no END card before the end of the file");
    const text = cardText(pos, cards.length + 1);
    if (text.startsWith("END     ")) {
      if (text.trimEnd() !== "END") throw fail("the END card has text after the keyword");
      break;
    }
    cards.push(_parseCard(text, cards.length + 1, fail));
    pos += CARD;
  }
  const dataOffset = start + _padded(pos + CARD - start);
  for (let i = pos + CARD; i < dataOffset; i++) {
    if (bytes[i] !== 0x20) throw fail("the header has non-blank bytes after the END card");
  }

  const expect = (position: number, key: string): FitsHeaderValue | null => {
    const card = cards[position];
    if (card?.key !== key) {
      throw fail(`card ${position + 1} is "${card?.key ?? "END"}", expected "${key}"`);
    }
    return card.value;
  };
  const bitpix = expect(1, "BITPIX");
  if (typeof bitpix !== "number" || !BITPIX_VALUES.includes(bitpix)) {
    throw fail(`BITPIX is "${bitpix}", expected one of ${BITPIX_VALUES.join(", ")}`);
  }
  const axes = expect(2, "NAXIS");
  if (!_isInteger(axes) || axes > 999) {
    throw fail(`NAXIS is "${axes}", expected an integer from 0 to 999`);
  }
  const naxis: number[] = [];
  for (let n = 1; n <= axes; n++) {
    const length = expect(2 + n, `NAXIS${n}`);
    if (!_isInteger(length)) throw fail(`NAXIS${n} is "${length}", expected an integer >= 0`);
    naxis.push(length);
  }

  const header = new Map<string, FitsHeaderValue>();
  for (const card of cards) {
    if (card.value !== null && !header.has(card.key)) header.set(card.key, card.value);
  }

  let pcount = 0;
  let gcount = 1;
  if (xtension === null) {
    if (header.get("GROUPS") === true && naxis[0] === 0) {
      throw fail("random-groups data is not supported");
    }
  } else {
    const p = expect(3 + axes, "PCOUNT");
    const g = expect(4 + axes, "GCOUNT");
    if (!_isInteger(p)) throw fail(`PCOUNT is "${p}", expected an integer >= 0`);
    if (!_isInteger(g) || g < 1) throw fail(`GCOUNT is "${g}", expected an integer >= 1`);
    if (xtension === "IMAGE" && (p !== 0 || g !== 1)) {
      throw fail(`an IMAGE extension needs PCOUNT = 0 and GCOUNT = 1, not ${p} and ${g}`);
    }
    pcount = p;
    gcount = g;
  }

  const extname = header.get("EXTNAME") ?? null;
  if (extname !== null && typeof extname !== "string") {
    throw fail(`EXTNAME is "${extname}", expected a string`);
  }

  // Checked before anyone allocates from it; a zero axis avoids Infinity * 0 = NaN.
  const pixels = naxis.length === 0 || naxis.includes(0) ? 0 : naxis.reduce((a, b) => a * b, 1);
  const dataLength = (Math.abs(bitpix) / 8) * gcount * (pcount + pixels);
  if (!(dataOffset + _padded(dataLength) <= bytes.length)) {
    throw fail(`its data of ${dataLength} bytes runs past the end of the file`);
  }

  return {
    index,
    xtension,
    extname,
    bitpix: bitpix as FitsBitpix,
    naxis,
    cards,
    header,
    headerOffset: start,
    dataOffset,
    dataLength,
  };
}

// Checked before the rest of the header so that a file which is not FITS at all (or trailing
// bytes that are not an extension) gets a message saying so, not one about some later card.
function _firstCard(
  parse: () => FitsHeaderCard,
  index: number,
  fail: (detail: string) => RangeError,
): FitsHeaderCard {
  const wrong = () =>
    index === 0
      ? new RangeError("Not a FITS file: first card is not SIMPLE = T")
      : fail("the extension does not start with an XTENSION card");
  let card: FitsHeaderCard;
  try {
    card = parse();
  } catch {
    throw wrong();
  }
  const ok = index === 0
    ? card.key === "SIMPLE" && card.value === true
    : card.key === "XTENSION" && typeof card.value === "string";
  if (!ok) throw wrong();
  return card;
}

function _checkPrintable(
  bytes: Uint8Array,
  pos: number,
  number: number,
  fail: (detail: string) => RangeError,
): void {
  for (let i = pos; i < pos + CARD; i++) {
    const byte = bytes[i] as number;
    if (byte < 0x20 || byte > 0x7e) {
      const hex = byte.toString(16).toUpperCase().padStart(2, "0");
      throw fail(`card ${number} holds the byte 0x${hex}, which is not printable ASCII`);
    }
  }
}

function _parseCard(
  text: string,
  number: number,
  fail: (detail: string) => RangeError,
): FitsHeaderCard {
  const key = text.slice(0, 8).trimEnd();
  if (!KEYWORD.test(key)) throw fail(`card ${number} has the invalid keyword "${key}"`);
  if (COMMENTARY.has(key) || text.slice(8, 10) !== "= ") {
    const comment = text.slice(8).trimEnd();
    return { key, value: null, comment: comment === "" ? null : comment };
  }
  const field = text.slice(10).trimStart();
  const invalid = () => fail(`card ${number} "${key}" has an invalid value: "${field.trimEnd()}"`);
  let value: FitsHeaderValue | null;
  let rest: string;
  if (field.startsWith("'")) {
    let parsed = "";
    let i = 1;
    for (;;) {
      const quote = field.indexOf("'", i);
      if (quote < 0) throw invalid();
      parsed += field.slice(i, quote);
      i = quote + 1;
      if (field[i] !== "'") break;
      parsed += "'";
      i++;
    }
    value = parsed.trimEnd();
    rest = field.slice(i).trimStart();
    if (rest !== "" && !rest.startsWith("/")) throw invalid();
  } else {
    const slash = field.indexOf("/");
    const raw = (slash < 0 ? field : field.slice(0, slash)).trim();
    rest = slash < 0 ? "" : field.slice(slash);
    if (raw === "") value = null;
    else if (raw === "T" || raw === "F") value = raw === "T";
    else if (INTEGER.test(raw)) value = Number(raw);
    else if (REAL.test(raw)) value = Number(raw.replace(/[Dd]/, "E"));
    else if (COMPLEX.test(raw)) value = raw;
    else throw invalid();
  }
  const comment = rest.startsWith("/") ? rest.slice(1).trim() : "";
  return { key, value, comment: comment === "" ? null : comment };
}

function _isInteger(value: FitsHeaderValue | null): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function _padded(length: number): number {
  return Math.ceil(length / FITS_BLOCK) * FITS_BLOCK;
}
