// Python's float math (used by the schedulers and Adam's bias corrections). V8's Math.cos / Math.pow / Math.log are fdlibm ports
// with errors up to ~1 ulp (Math.log(3) is one ulp off; Math.cos differs from CPython on ~3% of
// scheduler arguments), while CPython calls glibc, which is within ~0.55 ulp. These evaluate in
// double-double (~106 bits) and round once, so they return the nearest double: the same as
// CPython wherever glibc rounds correctly (every value in the fixtures; on random arguments
// all but ~0.1%, where glibc itself is half an ulp off and its FMA / SSE2 variants may disagree).
// Huge or subnormal arguments fall back to Math.*.

type DD = [number, number];

const SPLITTER = 134217729; // 2^27 + 1, Dekker's split

function twoSum(a: number, b: number): DD {
  const s = a + b;
  const bb = s - a;
  return [s, a - (s - bb) + (b - bb)];
}

function quickTwoSum(a: number, b: number): DD {
  const s = a + b;
  return [s, b - (s - a)];
}

function twoProd(a: number, b: number): DD {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return [p, ah * bh - p + ah * bl + al * bh + al * bl];
}

function ddAdd(a: DD, b: DD): DD {
  let [s, e] = twoSum(a[0], b[0]);
  const [t, f] = twoSum(a[1], b[1]);
  e += t;
  [s, e] = quickTwoSum(s, e);
  e += f;
  return quickTwoSum(s, e);
}

function ddNeg(a: DD): DD {
  return [-a[0], -a[1]];
}

function ddMul(a: DD, b: DD): DD {
  const [p, e] = twoProd(a[0], b[0]);
  return quickTwoSum(p, e + (a[0] * b[1] + a[1] * b[0]));
}

function ddMulNum(a: DD, b: number): DD {
  const [p, e] = twoProd(a[0], b);
  return quickTwoSum(p, e + a[1] * b);
}

function ddDiv(a: DD, b: DD): DD {
  const q1 = a[0] / b[0];
  let r = ddAdd(a, ddNeg(ddMulNum(b, q1)));
  const q2 = r[0] / b[0];
  r = ddAdd(r, ddNeg(ddMulNum(b, q2)));
  const q3 = r[0] / b[0];
  return ddAdd(quickTwoSum(q1, q2), [q3, 0]);
}

/** 1/n! for n = 0..count-1, each to double-double precision. */
function inverseFactorials(count: number): DD[] {
  const out: DD[] = [[1, 0]];
  for (let n = 1; n < count; n++) out.push(ddDiv(out[n - 1]!, [n, 0]));
  return out;
}

const INV_FACT = inverseFactorials(36);
// pi/2 and ln 2 split into doubles (computed with mpmath at 400 bits).
const PIO2 = [1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33, 5.562271104316826e-50];
const LN2 = [Math.LN2, 2.3190468138462996e-17, 5.707708438416212e-34];

/** Exact 2^k for -1022 <= k <= 1023. */
function pow2(k: number): number {
  const bits = new BigUint64Array([BigInt(k + 1023) << 52n]);
  return new Float64Array(bits.buffer)[0]!;
}

/** v * 2^k in exact power-of-two steps; the caller knows the result is in range. */
function ldexp(v: DD, k: number): DD {
  let [hi, lo] = v;
  while (k > 500 || k < -500) {
    const step = k > 0 ? 500 : -500;
    const s = pow2(step);
    hi *= s;
    lo *= s;
    k -= step;
  }
  const s = pow2(k);
  return [hi * s, lo * s];
}

/** Horner evaluation of sum c[start + step*i] * x^i, in double-double. */
function series(x: DD, start: number, step: number, terms: number, altSign: boolean): DD {
  let acc: DD = [0, 0];
  for (let i = terms - 1; i >= 0; i--) {
    const c = INV_FACT[start + step * i]!;
    acc = ddAdd(ddMul(acc, x), altSign && i % 2 === 1 ? ddNeg(c) : c);
  }
  return acc;
}

function ddCosSmall(r: DD): DD {
  return series(ddMul(r, r), 0, 2, 17, true);
}

function ddSinSmall(r: DD): DD {
  return ddMul(r, series(ddMul(r, r), 1, 2, 17, true));
}

/** Python's math.cos (glibc cos), correctly rounded. */
export function cos(x: number): number {
  if (!Number.isFinite(x)) return Number.NaN;
  const a = Math.abs(x);
  if (a < 2 ** -27) return 1;
  const k = Math.round(a / PIO2[0]!);
  if (k > 2 ** 26) return Math.cos(x);
  // a - k*pi/2 with pi/2 carried to ~200 bits: exact enough even next to a zero of cos.
  let r: DD = ddAdd([a, 0], ddNeg(twoProd(k, PIO2[0]!)));
  r = ddAdd(r, ddNeg(twoProd(k, PIO2[1]!)));
  r = ddAdd(r, ddNeg(twoProd(k, PIO2[2]!)));
  r = ddAdd(r, [-k * PIO2[3]!, 0]);
  let v: DD;
  switch (k % 4) {
    case 0:
      v = ddCosSmall(r);
      break;
    case 1:
      v = ddNeg(ddSinSmall(r));
      break;
    case 2:
      v = ddNeg(ddCosSmall(r));
      break;
    default:
      v = ddSinSmall(r);
  }
  return v[0] + v[1];
}

/** e^a for a double-double a with |a| < ~700. */
function ddExp(a: DD): DD {
  const k = Math.round(a[0] / LN2[0]!);
  let r = ddAdd(a, ddNeg(twoProd(k, LN2[0]!)));
  r = ddAdd(r, ddNeg(twoProd(k, LN2[1]!)));
  r = ddAdd(r, [-k * LN2[2]!, 0]);
  return ldexp(series(r, 0, 1, 30, false), k);
}

/** x = m * 2^e with m in [0.75, 1.5), for normal x > 0. */
function split2(x: number): [number, number] {
  let e = Math.floor(Math.log2(x));
  let m = x * pow2(-e);
  while (m >= 1.5) {
    m /= 2;
    e += 1;
  }
  while (m < 0.75) {
    m *= 2;
    e -= 1;
  }
  return [m, e];
}

/** ln x for normal x > 0, in double-double: one Newton step from Math.log on the mantissa. */
function ddLog(x: number): DD {
  const [m, e] = split2(x);
  const l0 = Math.log(m);
  const eps = ddAdd(ddMulNum(ddExp([-l0, 0]), m), [-1, 0]);
  const lm = twoSum(l0, eps[0] - (eps[0] * eps[0]) / 2);
  if (e === 0) return lm;
  let t = twoProd(e, LN2[0]!);
  t = ddAdd(t, twoProd(e, LN2[1]!));
  t = ddAdd(t, [e * LN2[2]!, 0]);
  return ddAdd(t, lm);
}

const NORMAL_MIN = 2 ** -1021;

/** Python's math.log(x) (one argument), correctly rounded. */
export function log(x: number): number {
  if (!(x >= NORMAL_MIN && x < Number.POSITIVE_INFINITY)) return Math.log(x);
  if (x === 1) return 0;
  const v = ddLog(x);
  return v[0] + v[1];
}

/** Python's math.log(x, base): log(x) / log(base), each rounded, then divided. */
export function logBase(x: number, base: number): number {
  return log(x) / log(base);
}

/** m^n for m in [0.75, 1.5) and integer n >= 0, in double-double. */
function ddPowInt(m: number, n: number): DD {
  let result: DD = [1, 0];
  let base: DD = [m, 0];
  let e = n;
  while (e > 0) {
    if (e % 2 === 1) result = ddMul(result, base);
    e = Math.floor(e / 2);
    if (e > 0) base = ddMul(base, base);
  }
  return result;
}

/** Python's `x ** y` for floats (glibc pow), correctly rounded. */
export function pow(x: number, y: number): number {
  if (y === 0 || x === 1) return 1;
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.NaN;
  if (y === 1) return x;
  if (x === 0 || !Number.isFinite(x) || !Number.isFinite(y)) return x ** y;
  const yInt = Number.isInteger(y);
  if (x < 0 && !yInt) return Number.NaN;
  const sign = x < 0 && Math.abs(y) % 2 === 1 ? -1 : 1;
  const ax = Math.abs(x);
  const log2r = y * Math.log2(ax);
  // Results near overflow or in the subnormal range are left to Math.pow.
  if (!(log2r > -1020 && log2r < 1023) || ax < NORMAL_MIN) return x ** y;
  let v: DD;
  if (yInt && Math.abs(y) <= 1024) {
    const [m, e] = split2(ax);
    const n = Math.abs(y);
    v = ddPowInt(m, n);
    if (y < 0) v = ddDiv([1, 0], v);
    v = ldexp(v, y * e);
  } else {
    const l = ddLog(ax);
    const [p, e] = twoProd(y, l[0]);
    v = ddExp(quickTwoSum(p, e + y * l[1]));
  }
  return sign * (v[0] + v[1]);
}

/** Python's `a % b` (result takes the divisor's sign). */
export function mod(a: number, b: number): number {
  const r = a % b;
  return r !== 0 && r < 0 !== b < 0 ? r + b : r;
}

/** Python's `a // b` for numbers. */
export function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/** Python's bisect.bisect_right on a sorted array. */
export function bisectRight(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < sorted[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
