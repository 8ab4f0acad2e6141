// The unpickler's input: bounds-checked reads of the pickle's bytes (little-endian integers, the
// big-endian float, length-prefixed strings and bytes, text lines). A read past the end is a
// CheckpointError through `fail`, never a RangeError; decoded strings are charged to the budget.
import { COST } from './limits.ts';

type Fail = (reason: string, hint?: string) => never;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class PickleReader {
  /** the offset of the next byte to read */
  pos: number;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #fail: Fail;
  readonly #charge: (n: number) => void;

  constructor(bytes: Uint8Array, start: number, fail: Fail, charge: (n: number) => void) {
    this.#bytes = bytes;
    this.pos = start;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#fail = fail;
    this.#charge = charge;
  }

  /** Takes n bytes: returns their offset (fails when the pickle ends first). */
  need(n: number): number {
    if (!Number.isSafeInteger(n) || n < 0 || this.pos + n > this.#bytes.length)
      this.#fail(`truncated pickle (needs ${n} more bytes)`);
    const p = this.pos;
    this.pos += n;
    return p;
  }
  u8(): number {
    return this.#bytes[this.need(1)]!;
  }
  u16(): number {
    return this.#view.getUint16(this.need(2), true);
  }
  i32(): number {
    return this.#view.getInt32(this.need(4), true);
  }
  u32(): number {
    return this.#view.getUint32(this.need(4), true);
  }
  u64(): number {
    const v = this.#view.getBigUint64(this.need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.#fail('length too large');
    return Number(v);
  }
  /** BINFLOAT's big-endian float64. */
  f64be(): number {
    return this.#view.getFloat64(this.need(8), false);
  }
  /** The next n bytes (a view, not a copy). */
  take(n: number): Uint8Array {
    return this.#bytes.subarray(this.need(n), this.pos);
  }
  /** Bytes decoded as UTF-8 (invalid UTF-8 fails). */
  text(b: Uint8Array): string {
    this.#charge(COST.string + 2 * b.length);
    try {
      return utf8.decode(b);
    } catch {
      return this.#fail('invalid UTF-8 in string');
    }
  }
  /** The text up to the next newline (protocol 0's arguments), the newline consumed. */
  line(): string {
    const nl = this.#bytes.indexOf(10, this.pos);
    if (nl < 0) this.#fail('truncated pickle (unterminated line)');
    const s = this.text(this.#bytes.subarray(this.pos, nl));
    this.pos = nl + 1;
    return s;
  }
}
