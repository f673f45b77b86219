/**
 * A fast test, on the bytes, that a FITS file is one `normalizeFits` would return unchanged:
 * valid as `readFits` checks it and with every mandatory card in fixed format. Cutouts as Rubin
 * and the mock write them pass it without a string or an object being made (~10× cheaper than
 * reading the header); anything unusual fails it and is left to `normalizeFits`.
 *
 * @module
 */

import { FITS_BLOCK } from "./fits_writer.ts";

const CARD = 80;
const SPACE = 0x20;
const QUOTE = 0x27;
const SLASH = 0x2f;
const EQUALS = 0x3d;
const BITPIX_VALUES: readonly number[] = [8, 16, 32, 64, -32, -64];
const ASCII = new TextEncoder();
const SIMPLE = ASCII.encode("SIMPLE  =                    T");
const XTENSION_IMAGE = ASCII.encode("XTENSION= 'IMAGE   '");
const END = ASCII.encode("END");
const COMMENT = ASCII.encode("COMMENT ");
const HISTORY = ASCII.encode("HISTORY ");
const BLANK_KEY = ASCII.encode("        ");
const EXTEND = ASCII.encode("EXTEND  ");
const EXTNAME = ASCII.encode("EXTNAME ");
const GROUPS = ASCII.encode("GROUPS  ");

/**
 * Whether `normalizeFits(bytes)` would return `bytes` itself. `false` means only that this test
 * cannot tell: the caller then runs `normalizeFits`, which checks, corrects or rejects.
 *
 * @param bytes A whole FITS file.
 * @returns `true` when the file is valid and its mandatory cards are already in fixed format.
 */
export function isConformingFits(bytes: Uint8Array): boolean {
  if (bytes.length === 0 || bytes.length % FITS_BLOCK !== 0) return false;
  let offset = 0;
  for (let index = 0; offset < bytes.length; index++) {
    const next = _hdu(bytes, offset, index === 0);
    if (next < 0) return false;
    offset = next;
  }
  return true;
}

// The offset of the next HDU, or -1 when this one is not plainly conforming.
function _hdu(bytes: Uint8Array, start: number, primary: boolean): number {
  if (start + CARD > bytes.length || !_printable(bytes, start)) return -1;
  if (!_startsWith(bytes, start, primary ? SIMPLE : XTENSION_IMAGE)) return -1;
  if (!_restIsComment(bytes, start, primary ? 30 : 20)) return -1;
  const bitpix = _fixedInteger(bytes, start + CARD, "BITPIX  ");
  const axes = _fixedInteger(bytes, start + 2 * CARD, "NAXIS   ");
  if (bitpix === null || !BITPIX_VALUES.includes(bitpix)) return -1;
  if (axes === null || axes < 0 || axes > 999) return -1;
  let pixels = axes === 0 ? 0 : 1;
  for (let n = 1; n <= axes; n++) {
    const length = _fixedInteger(bytes, start + (2 + n) * CARD, `NAXIS${n}`.padEnd(8));
    if (length === null || length < 0) return -1;
    pixels *= length;
  }
  let first = 3 + axes;
  if (!primary) {
    // An IMAGE extension: PCOUNT = 0 and GCOUNT = 1, in fixed format.
    if (_fixedInteger(bytes, start + first * CARD, "PCOUNT  ") !== 0) return -1;
    if (_fixedInteger(bytes, start + (first + 1) * CARD, "GCOUNT  ") !== 1) return -1;
    first += 2;
  }
  // Every other card up to END: printable, a valid keyword, a value readFits parses.
  let extendSeen = false;
  let pos = start + first * CARD;
  for (;; pos += CARD) {
    if (pos + CARD > bytes.length) return -1;
    if (!_printable(bytes, pos)) return -1;
    if (_startsWith(bytes, pos, END) && bytes[pos + 3] === SPACE) {
      return _isBlank(bytes, pos + 3, pos + CARD)
        ? _afterEnd(bytes, start, pos, bitpix, pixels)
        : -1;
    }
    if (!_keyword(bytes, pos)) return -1;
    // Cards whose value readFits or normalizeFits look at: left to them unless plain.
    if (_startsWith(bytes, pos, GROUPS)) return -1;
    if (primary && !extendSeen && _startsWith(bytes, pos, EXTEND)) {
      extendSeen = true;
      if (!_fixedLogical(bytes, pos)) return -1;
      continue;
    }
    if (_startsWith(bytes, pos, EXTNAME) && !_stringValue(bytes, pos)) return -1;
    if (!_valueParses(bytes, pos)) return -1;
  }
}

function _afterEnd(
  bytes: Uint8Array,
  start: number,
  end: number,
  bitpix: number,
  pixels: number,
): number {
  const dataOffset = start + _padded(end + CARD - start);
  if (!_isBlank(bytes, end + CARD, dataOffset)) return -1;
  const next = dataOffset + _padded((Math.abs(bitpix) / 8) * pixels);
  return Number.isSafeInteger(next) && next <= bytes.length ? next : -1;
}

function _padded(length: number): number {
  return Math.ceil(length / FITS_BLOCK) * FITS_BLOCK;
}

function _startsWith(bytes: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (at + prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

function _isBlank(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== SPACE) return false;
  return true;
}

function _printable(bytes: Uint8Array, pos: number): boolean {
  for (let i = pos; i < pos + CARD; i++) {
    const byte = bytes[i]!;
    if (byte < 0x20 || byte > 0x7e) return false;
  }
  return true;
}

// After column `column` (0-based), only blanks, or blanks then a comment.
function _restIsComment(bytes: Uint8Array, pos: number, column: number): boolean {
  let i = pos + column;
  while (i < pos + CARD && bytes[i] === SPACE) i++;
  return i === pos + CARD || bytes[i] === SLASH;
}

// A mandatory integer card in fixed format (right-justified in columns 11-30): its value, or
// null. Its card must also be printable, as readFits checks every card.
function _fixedInteger(bytes: Uint8Array, pos: number, key: string): number | null {
  if (pos + CARD > bytes.length || !_printable(bytes, pos)) return null;
  for (let i = 0; i < 8; i++) if (bytes[pos + i] !== key.charCodeAt(i)) return null;
  if (bytes[pos + 8] !== EQUALS || bytes[pos + 9] !== SPACE) return null;
  let i = pos + 10;
  while (i < pos + 30 && bytes[i] === SPACE) i++;
  const negative = bytes[i] === 0x2d;
  if (negative) i++;
  if (i === pos + 30) return null;
  let value = 0;
  for (; i < pos + 30; i++) {
    const digit = bytes[i]! - 0x30;
    if (digit < 0 || digit > 9) return null;
    value = value * 10 + digit;
  }
  if (!Number.isSafeInteger(value) || !_restIsComment(bytes, pos, 30)) return null;
  return negative ? -value : value;
}

function _fixedLogical(bytes: Uint8Array, pos: number): boolean {
  if (bytes[pos + 8] !== EQUALS || !_isBlank(bytes, pos + 9, pos + 29)) return false;
  const value = bytes[pos + 29];
  return (value === 0x54 || value === 0x46) && _restIsComment(bytes, pos, 30);
}

// Columns 1-8: keyword characters (A-Z 0-9 - _), then only blanks.
function _keyword(bytes: Uint8Array, pos: number): boolean {
  let i = pos;
  for (; i < pos + 8; i++) {
    const byte = bytes[i]!;
    const ok = (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d || byte === 0x5f;
    if (!ok) break;
  }
  return _isBlank(bytes, i, pos + 8);
}

function _stringValue(bytes: Uint8Array, pos: number): boolean {
  if (bytes[pos + 8] !== EQUALS || bytes[pos + 9] !== SPACE) return false;
  let i = pos + 10;
  while (i < pos + CARD && bytes[i] === SPACE) i++;
  return bytes[i] === QUOTE;
}

// The value syntax readFits accepts (quoted strings, logicals, integers, reals, no value);
// complex values and anything doubtful are left to it.
function _valueParses(bytes: Uint8Array, pos: number): boolean {
  const commentary = _startsWith(bytes, pos, BLANK_KEY) || _startsWith(bytes, pos, COMMENT) ||
    _startsWith(bytes, pos, HISTORY);
  if (commentary || bytes[pos + 8] !== EQUALS || bytes[pos + 9] !== SPACE) return true;
  const end = pos + CARD;
  let i = pos + 10;
  while (i < end && bytes[i] === SPACE) i++;
  if (bytes[i] === QUOTE) {
    for (i++;; i++) {
      if (i >= end) return false;
      if (bytes[i] !== QUOTE) continue;
      if (bytes[i + 1] === QUOTE && i + 1 < end) {
        i++;
        continue;
      }
      return _restIsComment(bytes, pos, i + 1 - pos);
    }
  }
  let stop = i;
  while (stop < end && bytes[stop] !== SLASH) stop++;
  let last = stop;
  while (last > i && bytes[last - 1] === SPACE) last--;
  if (last === i) return true;
  if (last === i + 1 && (bytes[i] === 0x54 || bytes[i] === 0x46)) return true;
  return _isNumber(bytes, i, last);
}

// /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[EDed][+-]?\d+)?$/ over bytes[from, to): integers included.
function _isNumber(bytes: Uint8Array, from: number, to: number): boolean {
  let i = from;
  if (bytes[i] === 0x2b || bytes[i] === 0x2d) i++;
  const digits = () => {
    const begin = i;
    while (i < to && bytes[i]! >= 0x30 && bytes[i]! <= 0x39) i++;
    return i - begin;
  };
  const whole = digits();
  if (i < to && bytes[i] === 0x2e) {
    i++;
    if (digits() === 0 && whole === 0) return false;
  } else if (whole === 0) {
    return false;
  }
  if (
    i < to && (bytes[i] === 0x45 || bytes[i] === 0x44 || bytes[i] === 0x65 || bytes[i] === 0x64)
  ) {
    i++;
    if (bytes[i] === 0x2b || bytes[i] === 0x2d) i++;
    if (digits() === 0) return false;
  }
  return i === to;
}
