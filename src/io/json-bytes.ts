// JSON text written straight into bytes, for request bodies built without a string per
// record (batch.ts). Numbers come out exactly as numberJson (codec.ts) writes them, which is
// what the server stores; the shortest round-trip digits of common doubles are found here
// with a few multiplications instead of String(x), which cost ~140 ns a value on the
// worker's hot path. Whatever this cannot settle for certain is left to numberJson.

import { numberJson } from "../shared/codec.js";

const encoder = new TextEncoder();

/** 10^0 … 10^22: the powers of ten a double holds exactly. */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const SPLIT = 134217729; // 2^27 + 1, Dekker's splitter
const POW10_HI = POW10.map((p) => SPLIT * p - (SPLIT * p - p));
const POW10_LO = POW10.map((p, i) => p - POW10_HI[i]);

const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE ? 1 : 0;
const LO = LITTLE ? 0 : 1;

/** A growable byte buffer; `pos` bytes are written. */
export class ByteWriter {
  buf: Uint8Array;
  pos = 0;

  /** A new buffer of `capacity` bytes, or `reuse` (its content is overwritten). */
  constructor(capacity = 64 * 1024, reuse: Uint8Array | null = null) {
    this.buf = reuse ?? new Uint8Array(capacity);
  }

  /** Make room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.pos = copyBytes(this.buf, this.pos, b);
  }

  /** Any string, as UTF-8. */
  text(s: string): void {
    this.ensure(s.length * 3);
    this.pos += encoder.encodeInto(s, this.buf.subarray(this.pos)).written;
  }

  /** A string known to be ASCII (number text, fixed JSON punctuation). */
  ascii(s: string): void {
    this.ensure(s.length);
    this.pos = writeAscii(this.buf, this.pos, s);
  }

  byte(c: number): void {
    this.ensure(1);
    this.buf[this.pos++] = c;
  }

  /** `x` as numberJson(x) writes it. */
  number(x: number): void {
    this.ensure(NUMBER_MAX);
    this.pos = writeNumber(this.buf, this.pos, x);
  }

  /** A copy of the bytes written, from `start`. */
  slice(start = 0): Uint8Array {
    return this.buf.slice(start, this.pos);
  }
}

/** The most bytes writeNumber writes (`-1.7976931348623157e+308` is 24). */
export const NUMBER_MAX = 32;

/** `b` at `p` in `buf`, which has room for it; returns the end. */
export function copyBytes(buf: Uint8Array, p: number, b: Uint8Array): number {
  const n = b.length;
  // A short copy by hand: TypedArray.prototype.set costs ~10 ns a call, a byte ~1 ns.
  if (n > 8) buf.set(b, p);
  else for (let i = 0; i < n; i++) buf[p + i] = b[i];
  return p + n;
}

/** The `n` bytes at `start`, written before, again at `p` in `buf` (room for them); returns the end. */
export function copyEarlier(buf: Uint8Array, p: number, start: number, n: number): number {
  // By hand when short, as copyBytes.
  if (n > 8) buf.copyWithin(p, start, start + n);
  else for (let i = 0; i < n; i++) buf[p + i] = buf[start + i];
  return p + n;
}

/** `x` as numberJson(x) writes it, at `p` in `buf`, which has NUMBER_MAX bytes of room; returns the end. */
export function writeNumber(buf: Uint8Array, p: number, x: number): number {
  if (Number.isSafeInteger(x)) {
    if (x >= 0) return x === 0 && 1 / x < 0 ? writeAscii(buf, p, "-0.0") : writeUint(buf, p, x);
    buf[p] = 0x2d;
    return writeUint(buf, p + 1, -x);
  }
  const start = p;
  if (x < 0) buf[p++] = 0x2d;
  const end = fraction.write(buf, p, x < 0 ? -x : x);
  return end >= 0 ? end : writeAscii(buf, start, numberJson(x));
}

/** An ASCII string at `p` in `buf`, which has room for it; returns the end. */
export function writeAscii(buf: Uint8Array, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
  return p;
}

/** The decimal digits of a safe integer n ≥ 0 at `p`; returns the end. */
export function writeUint(buf: Uint8Array, p: number, n: number): number {
  if (n < 1e9) return writeSmall(buf, p, n | 0);
  const hi = Math.floor(n / 1e9);
  return writePadded(buf, writeSmall(buf, p, hi | 0), (n - hi * 1e9) | 0, 9);
}

/** n (an int32 ≥ 0) in decimal. */
function writeSmall(buf: Uint8Array, p: number, n: number): number {
  return writePadded(buf, p, n, digitCount(n));
}

/** Decimal digits of n (an int32 ≥ 0). */
function digitCount(n: number): number {
  if (n < 10000) return n < 100 ? (n < 10 ? 1 : 2) : n < 1000 ? 3 : 4;
  if (n < 100000000) return n < 1000000 ? (n < 100000 ? 5 : 6) : n < 10000000 ? 7 : 8;
  return n < 1000000000 ? 9 : 10;
}

/** "00" … "99" as character codes, two digits a step. */
const PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  PAIRS[2 * i] = 0x30 + ((i / 10) | 0);
  PAIRS[2 * i + 1] = 0x30 + (i % 10);
}

/** The digits hi·10^width + lo (lo zero-padded to `width`; hi may be 0) at `p`; returns the end. */
function digits(buf: Uint8Array, p: number, hi: number, lo: number, width: number): number {
  if (hi === 0) return writeSmall(buf, p, lo);
  // hi holds up to nine digits; eight of them at once when it has eight or nine.
  const next =
    hi < 1e7
      ? writeSmall(buf, p, hi)
      : hi < 1e8
        ? write8(buf, p, hi)
        : write8(buf, digit(buf, p, (hi / 1e8) | 0), hi % 1e8);
  return width === 8 ? write8(buf, next, lo) : writePadded(buf, next, lo, width);
}

/** One digit d at `p`; returns the end. */
function digit(buf: Uint8Array, p: number, d: number): number {
  buf[p] = 0x30 + d;
  return p + 1;
}

/**
 * n (0 ≤ n < 10^8) as exactly 8 digits. Its two halves of four are worked out side by side:
 * two short chains of divisions instead of writePadded's one of four (bench/numbers.ts: 61 →
 * 52 ns a 16-17-digit double).
 */
function write8(buf: Uint8Array, p: number, n: number): number {
  const a = (n / 10000) | 0;
  const b = n - a * 10000;
  const a1 = (a / 100) | 0;
  const b1 = (b / 100) | 0;
  const a0 = (a - a1 * 100) << 1;
  const b0 = (b - b1 * 100) << 1;
  buf[p] = PAIRS[a1 << 1];
  buf[p + 1] = PAIRS[(a1 << 1) + 1];
  buf[p + 2] = PAIRS[a0];
  buf[p + 3] = PAIRS[a0 + 1];
  buf[p + 4] = PAIRS[b1 << 1];
  buf[p + 5] = PAIRS[(b1 << 1) + 1];
  buf[p + 6] = PAIRS[b0];
  buf[p + 7] = PAIRS[b0 + 1];
  return p + 8;
}

/** n (an int32 ≥ 0) as exactly `len` digits, zero-padded. */
function writePadded(buf: Uint8Array, p: number, n: number, len: number): number {
  const end = p + len;
  let i = end;
  while (i - p >= 2) {
    const q = (n / 100) | 0;
    const r = (n - q * 100) << 1;
    buf[--i] = PAIRS[r + 1];
    buf[--i] = PAIRS[r];
    n = q;
  }
  if (i > p) buf[--i] = 0x30 + n - ((n / 10) | 0) * 10;
  return end;
}

/**
 * Shortest round-trip digits of a positive double that is not a safe integer: String(x)'s
 * (ECMAScript's Number::toString: the fewest digits that read back as the same double, the
 * nearest such, ties to even). Handles 1e-27 ≤ a < 1e15: without an exponent from 1e-6 on,
 * as `1.5e-7` below; for anything else, or whenever a choice is too close to call in double
 * arithmetic, write() returns -1 having written nothing.
 *
 * How: X = a·10^k, with k chosen so that X lies in (2^53, 10^17), is P + E exactly (Dekker's
 * product with an exact power of ten; P an even integer, |E| ≤ 8). Below 1e-6, k is over 22
 * and 10^k no double: X is a·10^22·10^(k-22), two exact products, and E carries their errors
 * with a rounding error of ~1e-15, which the NOISE margin covers. The decimals that read
 * back as `a`, scaled alike, lie within X - low … X + high (half the gap to the neighbouring
 * doubles, 0.55 to 11). That span is narrower than 100, so a multiple of 100 inside it is the
 * only one and the shortest (its trailing zeros dropped); failing that, the nearest multiple
 * of 10 inside it; failing that, X rounded to an integer, which always lies inside.
 */
class Fraction {
  // The digits found: (hi·10^8 + lo) × 10^exp.
  hi = 0;
  lo = 0;
  exp = 0;

  write(buf: Uint8Array, p: number, a: number): number {
    if (!(a >= 1e-27 && a < 1e15)) return -1;
    bits[0] = a;
    const hiWord = words[HI];
    const loWord = words[LO];
    const biased = hiWord >>> 20;
    // floor(log10 a), or one less.
    const e10 = Math.floor((biased - 1023) * 0.30102999566398114);
    const t = SPLIT * a;
    const aHi = t - (t - a);
    const aLo = a - aHi;
    let k = 16 - e10;
    let P: number;
    let E: number;
    let high: number;
    // Whether E is exact (one product) or carries a rounding error (two, below 1e-6). Each
    // product's error is written out where it is needed: a helper for it cost the path below
    // 1e-6 64 → 72 ns a value (bench/numbers.ts).
    const exact = k <= 22;
    if (exact) {
      // 10^22 is the largest exact power: when e10 may be one low there, the check below decides.
      P = a * POW10[k];
      if (P >= 1e17) P = a * POW10[--k];
      if (!(P > 9.1e15 && P < 1e17)) return -1;
      E = aHi * POW10_HI[k] - P + aHi * POW10_LO[k] + aLo * POW10_HI[k] + aLo * POW10_LO[k];
      high = HALF_ULP[biased] * POW10[k];
    } else {
      const P1 = a * POW10[22];
      const E1 = aHi * POW10_HI[22] - P1 + aHi * POW10_LO[22] + aLo * POW10_HI[22] + aLo * POW10_LO[22];
      let m = k - 22;
      P = P1 * POW10[m];
      if (P >= 1e17) {
        k--;
        P = P1 * POW10[--m];
      }
      if (!(P > 9.1e15 && P < 1e17)) return -1;
      const t1 = SPLIT * P1;
      const pHi = t1 - (t1 - P1);
      const pLo = P1 - pHi;
      E = pHi * POW10_HI[m] - P + pHi * POW10_LO[m] + pLo * POW10_HI[m] + pLo * POW10_LO[m] + E1 * POW10[m];
      high = HALF_ULP[biased] * POW10[22] * POW10[m];
    }
    // Below a power of two the neighbour is twice as close.
    const low = (hiWord & 0xfffff) === 0 && loWord === 0 ? high / 2 : high;
    // P = hi·10^8 + pl exactly (hi·10^8 < 2^53 is exact; the product may round hi one off).
    let hi = Math.floor(P * 1e-8);
    let pl = P - hi * 1e8;
    if (!exact) {
      // Two errors may add up past ±8, where #near's window ends: their whole part goes into pl.
      const whole = Math.round(E);
      pl += whole;
      E -= whole;
    }
    if (pl < 0) {
      hi--;
      pl += 1e8;
    } else if (pl >= 1e8) {
      hi++;
      pl -= 1e8;
    }
    const l = pl | 0;
    let lo = this.#near(l, E, 100, low, high);
    if (lo === UNSURE) return -1;
    if (lo === NONE) lo = this.#near(l, E, 10, low, high);
    if (lo === UNSURE) return -1;
    if (lo === NONE) {
      // X rounded to an integer, half to even (P is even; an inexact E too near a half is
      // left to numberJson).
      const f = Math.floor(E);
      const frac = E - f;
      if (!exact && Math.abs(frac - 0.5) < NOISE) return -1;
      lo = l + (frac > 0.5 || (frac === 0.5 && (f & 1) !== 0) ? f + 1 : f);
    }
    if (lo < 0) {
      lo += 1e8;
      hi--;
    } else if (lo >= 1e8) {
      lo -= 1e8;
      hi++;
    }
    this.hi = hi;
    this.lo = lo;
    this.exp = -k;
    return this.#layout(buf, p);
  }

  /**
   * The low part of the multiple of `step` inside the span that is nearest X (ties to an
   * even multiple), given X's low part l + E; NONE when there is none, UNSURE when too close
   * to call.
   */
  #near(l: number, E: number, step: number, low: number, high: number): number {
    const q = l % step;
    const r = q + E;
    // r lies within -8 … step + 8.
    const j = r < 0 ? -1 : r >= step ? 1 : 0;
    const below = r - step * j;
    const above = step - below;
    if (Math.abs(below - low) < NOISE || Math.abs(above - high) < NOISE) return UNSURE;
    const inBelow = below < low;
    const inAbove = above < high;
    if (!inBelow && !inAbove) return NONE;
    if (inBelow && inAbove && Math.abs(below - above) < NOISE) return UNSURE;
    const up = inAbove && (!inBelow || above < below);
    return l - q + step * (up ? j + 1 : j);
  }

  /** Write (hi·10^8 + lo) × 10^exp as ECMAScript does for a non-integer with -7 < exponent < 21. */
  #layout(buf: Uint8Array, p: number): number {
    let hi = this.hi | 0;
    let lo = this.lo | 0;
    let exp = this.exp;
    // Drop trailing zeros: the digits are hi then lo (padded to `width`), or lo alone.
    let width = 8;
    if (lo === 0) {
      lo = hi;
      hi = 0;
      exp += 8;
    }
    if (lo % 100000000 === 0) {
      lo = (lo / 100000000) | 0;
      width -= 8;
      exp += 8;
    }
    if (lo % 10000 === 0) {
      lo = (lo / 10000) | 0;
      width -= 4;
      exp += 4;
    }
    if (lo % 100 === 0) {
      lo = (lo / 100) | 0;
      width -= 2;
      exp += 2;
    }
    if (lo % 10 === 0) {
      lo = (lo / 10) | 0;
      width--;
      exp++;
    }
    const n = hi > 0 ? digitCount(hi) + width : digitCount(lo);
    // Where the decimal point goes, counted from the first digit.
    const point = n + exp;
    if (point >= n) return -1;
    if (point <= -6) {
      // d.ddde-x: the digits one place on, then the first moved before the point.
      let end = digits(buf, p + 1, hi, lo, width);
      buf[p] = buf[p + 1];
      if (n > 1) buf[p + 1] = 0x2e;
      else end = p + 1;
      buf[end++] = 0x65 /* e */;
      buf[end++] = 0x2d /* - */;
      return writeSmall(buf, end, 1 - point);
    }
    let at = p;
    if (point <= 0) {
      buf[at++] = 0x30;
      buf[at++] = 0x2e;
      for (let i = point; i < 0; i++) buf[at++] = 0x30;
    }
    const end = digits(buf, at, hi, lo, width);
    if (point <= 0) return end;
    // Make room for the point: move the fraction's digits one place on.
    for (let i = end; i > p + point; i--) buf[i] = buf[i - 1];
    buf[p + point] = 0x2e;
    return end + 1;
  }
}

const NONE = -1e9;
const UNSURE = -2e9;
/** Half the gap between doubles of each biased exponent: 2^(e - 1076). */
const HALF_ULP = Float64Array.from({ length: 2048 }, (_, e) => 2 ** (e - 1076));

/** How close two scaled distances may be before double arithmetic cannot tell them apart. */
const NOISE = 1e-9;

// The one Fraction writeNumber uses (after the class: a class is not hoisted).
const fraction = new Fraction();
