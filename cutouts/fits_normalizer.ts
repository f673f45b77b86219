/**
 * Rewrite free-format mandatory FITS keywords into the fixed format the standard requires, so
 * that saved ZTF cutouts pass `fitsverify`.
 *
 * ZTF's gzipped cutouts start with `SIMPLE  =  T` (T in column 12). FITS Standard 4.0 §4.2
 * requires fixed format for mandatory keywords (a logical in column 30, integers right-justified
 * to column 30, strings quoted from column 11), and `fitsverify` reports
 * `SIMPLE   mandatory keyword is not in logical fixed format`. Readers such as astropy accept
 * the file as it is; strict tools and archives do not.
 *
 * @module
 */

import { type FitsHdu, type FitsHeaderValue, readFits } from "./fits_reader.ts";
import { formatFitsCard } from "./fits_writer.ts";

const CARD = 80;
// Value columns 11-30: a fixed-format value ends exactly in column 30.
const FIXED_LOGICAL = /^ {19}[TF]$/;
const FIXED_INTEGER = /^ *[+-]?\d+$/;
const ASCII = new TextDecoder("latin1");

type _Kind = "logical" | "integer" | "string";

/**
 * Return FITS bytes whose mandatory keywords (`SIMPLE`, `XTENSION`, `BITPIX`, `NAXIS`,
 * `NAXISn`, `PCOUNT`, `GCOUNT`, and `EXTEND` when present) are in fixed format.
 *
 * Only the cards that are not already fixed-format are rewritten: keyword, `= `, the value
 * right-justified to column 30 (a string quoted from column 11 and padded to 8 characters),
 * then ` / ` and the card's comment, cut at column 80 if it no longer fits. Every other card
 * and every data byte stay identical, and no card moves, so `END` and the data keep their
 * offsets (`readFits` has already checked that `END` is well formed). Table-specific keywords
 * (`TFIELDS`, `TFORMn`) are left alone: cutouts are images.
 *
 * @param bytes A FITS file, as {@linkcode readFits} accepts it. It is not modified.
 * @returns `bytes` itself when it already conforms (Rubin cutouts, `encodeFits` output),
 * otherwise a corrected copy.
 * @throws {RangeError} When `bytes` is not a valid FITS file (from {@linkcode readFits}).
 * @example
 * ```ts
 * import { encodeFits } from "./fits_writer.ts";
 * import { normalizeFits } from "./fits_normalizer.ts";
 * const bytes = encodeFits([{ width: 2, height: 2, data: new Float32Array(4) }]);
 * normalizeFits(bytes) === bytes; // true: already fixed format
 * ```
 */
export function normalizeFits(bytes: Uint8Array): Uint8Array {
  let out: Uint8Array | null = null;
  for (const hdu of readFits(bytes)) {
    for (const [position, kind] of _mandatoryCards(hdu)) {
      const card = hdu.cards[position];
      // readFits() has checked the types of all but EXTEND; a malformed EXTEND is not ours.
      if (card === undefined || !_hasKind(card.value, kind)) continue;
      const offset = hdu.headerOffset + position * CARD;
      const text = ASCII.decode(bytes.subarray(offset, offset + CARD));
      if (_isFixed(text, kind, card.value)) continue;
      // Not bytes.slice(): on a Node Buffer (gunzip's output) that is a view, not a copy.
      out ??= new Uint8Array(bytes);
      _writeAscii(out, offset, _fixedCard(card.key, card.value, card.comment));
    }
  }
  return out ?? bytes;
}

// Positions follow the order readFits() has already enforced; EXTEND may be anywhere.
function _mandatoryCards(hdu: FitsHdu): [number, _Kind][] {
  const cards: [number, _Kind][] = [
    [0, hdu.xtension === null ? "logical" : "string"],
    [1, "integer"],
    [2, "integer"],
  ];
  for (let n = 1; n <= hdu.naxis.length; n++) cards.push([2 + n, "integer"]);
  if (hdu.xtension === null) {
    const extend = hdu.cards.findIndex((card) => card.key === "EXTEND");
    if (extend > 0) cards.push([extend, "logical"]);
  } else {
    cards.push([3 + hdu.naxis.length, "integer"], [4 + hdu.naxis.length, "integer"]);
  }
  return cards;
}

function _hasKind(value: FitsHeaderValue | null, kind: _Kind): value is FitsHeaderValue {
  if (kind === "logical") return typeof value === "boolean";
  return kind === "integer" ? typeof value === "number" : typeof value === "string";
}

function _isFixed(text: string, kind: _Kind, value: FitsHeaderValue): boolean {
  if (kind === "string") {
    const quoted = _quoted(String(value));
    return text.slice(10, 10 + quoted.length) === quoted &&
      _isRestBlankOrComment(text.slice(10 + quoted.length));
  }
  const field = text.slice(10, 30);
  if (kind === "logical" ? !FIXED_LOGICAL.test(field) : !FIXED_INTEGER.test(field)) return false;
  return _isRestBlankOrComment(text.slice(30));
}

// After the value only blanks or a comment may follow; anything else would belong to the value.
function _isRestBlankOrComment(rest: string): boolean {
  const trimmed = rest.trimStart();
  return trimmed === "" || trimmed.startsWith("/");
}

// fitsverify wants registered XTENSION values padded to exactly 8 characters ('IMAGE   ').
function _quoted(value: string): string {
  return `'${value.replaceAll("'", "''").padEnd(8)}'`;
}

function _fixedCard(
  key: string,
  value: FitsHeaderValue,
  comment: string | null,
): string {
  const head = formatFitsCard({ key, value }).trimEnd().padEnd(30);
  if (comment === null || head.length + 4 > CARD) return head.padEnd(CARD);
  return `${head} / ${comment}`.slice(0, CARD).padEnd(CARD);
}

function _writeAscii(out: Uint8Array, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) out[offset + i] = text.charCodeAt(i);
}
