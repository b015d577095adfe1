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
  readonly #fraction = new Fraction();

  constructor(capacity = 64 * 1024) {
    this.buf = new Uint8Array(capacity);
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
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Any string, as UTF-8. */
  text(s: string): void {
    this.ensure(s.length * 3);
    this.pos += encoder.encodeInto(s, this.buf.subarray(this.pos)).written;
  }

  /** A string known to be ASCII (number text, fixed JSON punctuation). */
  ascii(s: string): void {
    this.ensure(s.length);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  byte(c: number): void {
    this.ensure(1);
    this.buf[this.pos++] = c;
  }

  /** A safe integer ≥ 0 in decimal. */
  uint(n: number): void {
    this.ensure(16);
    this.pos = writeUint(this.buf, this.pos, n);
  }

  /** `x` as numberJson(x) writes it. */
  number(x: number): void {
    this.ensure(32);
    const buf = this.buf;
    let p = this.pos;
    if (Number.isSafeInteger(x)) {
      if (x < 0) {
        buf[p++] = 0x2d;
        this.pos = writeUint(buf, p, -x);
      } else if (x === 0 && 1 / x < 0) this.ascii("-0.0");
      else this.pos = writeUint(buf, p, x);
      return;
    }
    if (x < 0) buf[p++] = 0x2d;
    const end = this.#fraction.write(buf, p, x < 0 ? -x : x);
    if (end >= 0) this.pos = end;
    else this.ascii(numberJson(x));
  }

  /** A copy of the bytes written, from `start`. */
  slice(start = 0): Uint8Array {
    return this.buf.slice(start, this.pos);
  }
}

/** The decimal digits of a safe integer n ≥ 0 at `p`; returns the end. */
export function writeUint(buf: Uint8Array, p: number, n: number): number {
  if (n < 1e9) return writeSmall(buf, p, n | 0);
  const hi = Math.floor(n / 1e9);
  return writePadded(buf, writeSmall(buf, p, hi | 0), (n - hi * 1e9) | 0, 9);
}

/** n (an int32 ≥ 0) in decimal. */
function writeSmall(buf: Uint8Array, p: number, n: number): number {
  let len = 1;
  for (let t = n; t >= 10; t = (t / 10) | 0) len++;
  return writePadded(buf, p, n, len);
}

/** n (an int32 ≥ 0) as exactly `len` digits, zero-padded. */
function writePadded(buf: Uint8Array, p: number, n: number, len: number): number {
  const end = p + len;
  for (let i = end - 1; i >= p; i--) {
    const q = (n / 10) | 0;
    buf[i] = 0x30 + n - q * 10;
    n = q;
  }
  return end;
}

/**
 * Shortest round-trip digits of a positive double that is not a safe integer: String(x)'s
 * (ECMAScript's Number::toString: the fewest digits that read back as the same double, the
 * nearest such, ties to even). Handles 1e-6 ≤ a < 1e15, written without an exponent; for
 * anything else, or whenever a choice is too close to call in double arithmetic, write()
 * returns -1 having written nothing.
 */
class Fraction {
  // The digits found: (hi·10^8 + lo) × 10^exp.
  hi = 0;
  lo = 0;
  exp = 0;
  readonly #digits = new Uint8Array(24);

  write(buf: Uint8Array, p: number, a: number): number {
    if (!(a >= 1e-6 && a < 1e15)) return -1;
    bits[0] = a;
    const hiWord = words[HI];
    const loWord = words[LO];
    // floor(log10 a), or one less: the scaling below corrects it.
    let e10 = Math.floor((((hiWord >>> 20) & 0x7ff) - 1023) * 0.30102999566398114);
    // Up to 15 significant digits: any such decimal maps to its own double, so the one
    // nearest a·10^k reads back as a exactly when a is that decimal (division by an exact
    // power of ten rounds correctly, as a parser does).
    let k = 14 - e10;
    if (k < 1 || k > 22) return -1;
    let y = a * POW10[k];
    if (y >= 1e15) {
      e10++;
      k--;
      y = a * POW10[k];
    }
    const m = Math.round(y);
    if (m / POW10[k] === a) {
      this.hi = Math.floor(m / 1e8);
      this.lo = m - this.hi * 1e8;
      this.exp = -k;
    } else if (!this.#long(a, 16 - e10, hiWord, loWord)) return -1;
    return this.#layout(buf, p);
  }

  /**
   * 16 or 17 digits, with X = a·10^k in (10^16, 10^17). X = P + E exactly (Dekker's product;
   * P an even integer, |E| ≤ 8), and the decimals that read back as `a` lie within X - low …
   * X + high. False when a decision is within rounding noise.
   */
  #long(a: number, k: number, hiWord: number, loWord: number): boolean {
    if (k > 22) return false;
    const P = a * POW10[k];
    if (!(P > 1e16 && P < 1e17)) return false;
    const t = SPLIT * a;
    const aHi = t - (t - a);
    const aLo = a - aHi;
    const E = aHi * POW10_HI[k] - P + aHi * POW10_LO[k] + aLo * POW10_HI[k] + aLo * POW10_LO[k];
    // Half the gap to the neighbouring doubles, scaled: ulp(a)/2 · 10^k (exact: a power of two times 10^k).
    bits[0] = 0;
    words[HI] = (hiWord & 0x7ff00000) - (52 << 20);
    const high = bits[0] * 0.5 * POW10[k];
    // Below a power of two the neighbour is twice as close.
    const low = (hiWord & 0xfffff) === 0 && loWord === 0 ? high / 2 : high;
    let ph = Math.floor(P / 1e8);
    let pl = P - ph * 1e8;
    if (pl < 0) {
      ph--;
      pl += 1e8;
    }
    // 16 digits: the multiples of ten around X, `below` under it and `above` over it.
    const q = pl % 10;
    const r = q + E;
    const j = Math.floor(r / 10);
    const below = r - 10 * j;
    const above = 10 - below;
    if (Math.abs(below - low) < NOISE || Math.abs(above - high) < NOISE) return false;
    const inBelow = below < low;
    const inAbove = above < high;
    if (inBelow || inAbove) {
      if (inBelow && inAbove && Math.abs(below - above) < NOISE) return false;
      const up = inAbove && (!inBelow || above < below);
      // ph·10^7 + s, as hi·10^8 + lo.
      let s = (pl - q) / 10 + j + (up ? 1 : 0);
      if (s < 0) {
        s += 1e7;
        ph--;
      } else if (s >= 1e7) {
        s -= 1e7;
        ph++;
      }
      const phLo = ph % 10;
      this.hi = (ph - phLo) / 10;
      this.lo = phLo * 1e7 + s;
      this.exp = 1 - k;
      return true;
    }
    // 17 digits: X rounded to an integer, half to even (P is even).
    const f = Math.floor(E);
    const frac = E - f;
    let lo = pl + (frac > 0.5 || (frac === 0.5 && (f & 1) !== 0) ? f + 1 : f);
    if (lo < 0) {
      lo += 1e8;
      ph--;
    } else if (lo >= 1e8) {
      lo -= 1e8;
      ph++;
    }
    this.hi = ph;
    this.lo = lo;
    this.exp = -k;
    return true;
  }

  /** Write (hi·10^8 + lo) × 10^exp as ECMAScript does for a non-integer with -7 < exponent < 21. */
  #layout(buf: Uint8Array, p: number): number {
    const digits = this.#digits;
    const hi = this.hi | 0;
    let lo = this.lo | 0;
    let exp = this.exp;
    let n: number;
    if (lo === 0 && hi > 0) {
      n = writeSmall(digits, 0, hi);
      exp += 8;
    } else {
      let width = 8;
      while (lo % 10 === 0) {
        lo = (lo / 10) | 0;
        width--;
        exp++;
      }
      n = hi > 0 ? writePadded(digits, writeSmall(digits, 0, hi), lo, width) : writeSmall(digits, 0, lo);
    }
    while (n > 1 && digits[n - 1] === 0x30) {
      n--;
      exp++;
    }
    // Where the decimal point goes, counted from the first digit.
    const point = n + exp;
    if (point >= n || point <= -6) return -1;
    if (point > 0) {
      for (let i = 0; i < point; i++) buf[p++] = digits[i];
      buf[p++] = 0x2e;
      for (let i = point; i < n; i++) buf[p++] = digits[i];
      return p;
    }
    buf[p++] = 0x30;
    buf[p++] = 0x2e;
    for (let i = point; i < 0; i++) buf[p++] = 0x30;
    for (let i = 0; i < n; i++) buf[p++] = digits[i];
    return p;
  }
}

/** How close two scaled distances may be before double arithmetic cannot tell them apart. */
const NOISE = 1e-9;
