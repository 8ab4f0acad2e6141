// A pickler for protocol 2 (torch.save's default), writing the value model of py.ts.
import { ArgumentError } from '../../errors.ts';
import { isPyKey, isTuple, PyGlobal, type PyInput, PyObject, PyOrderedDict } from '../py.ts';
import { isRawTensor, type RawTensor } from '../raw.ts';

/** Writes a tensor: the pickler calls this with itself so the tensor can emit its own opcodes. */
export type TensorWriter = (p: Pickler, t: RawTensor, path: string) => void;

const MAX_DEPTH = 1000;
const enc = new TextEncoder();

export class Pickler {
  private chunks: Uint8Array[] = [];
  private buf = new Uint8Array(1 << 16);
  private len = 0;
  private memo = new Map<unknown, number>();
  private inProgress = new Set<object>();

  constructor(private readonly writeTensor: TensorWriter) {}

  /** The complete pickle of value. */
  dump(value: PyInput): Uint8Array {
    this.byte(0x80, 2); // PROTO 2
    this.value(value, '', 0);
    this.byte(0x2e); // STOP
    this.flush();
    const out = new Uint8Array(this.chunks.reduce((a, c) => a + c.byteLength, 0));
    let p = 0;
    for (const c of this.chunks) {
      out.set(c, p);
      p += c.byteLength;
    }
    return out;
  }

  byte(...bs: number[]): void {
    if (this.len + bs.length > this.buf.length) this.flush();
    for (const b of bs) this.buf[this.len++] = b;
  }

  bytes(b: Uint8Array): void {
    if (this.len + b.byteLength > this.buf.length) this.flush();
    if (b.byteLength > this.buf.length) this.chunks.push(b.slice());
    else {
      this.buf.set(b, this.len);
      this.len += b.byteLength;
    }
  }

  private flush(): void {
    if (this.len > 0) this.chunks.push(this.buf.slice(0, this.len));
    this.len = 0;
  }

  private u32(op: number, n: number): void {
    this.byte(op, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }

  /** GLOBAL module\nname\n, memoized like Python's pickler. */
  global(module: string, name: string): void {
    const k = `global:${module}.${name}`;
    if (this.get(k)) return;
    this.byte(0x63);
    this.bytes(enc.encode(`${module}\n${name}\n`));
    this.put(k);
  }

  str(s: string): void {
    const b = enc.encode(s);
    this.u32(0x58, b.byteLength); // BINUNICODE
    this.bytes(b);
  }

  int(n: number | bigint): void {
    if (typeof n === 'number' && n >= 0 && n < 256) this.byte(0x4b, n);
    else if (typeof n === 'number' && n >= 0 && n < 65536) this.byte(0x4d, n & 0xff, n >> 8);
    else if (typeof n === 'number' && n >= -(2 ** 31) && n < 2 ** 31) this.u32(0x4a, n >>> 0);
    else {
      // LONG1: minimal little-endian two's complement
      let v = BigInt(n);
      const out: number[] = [];
      for (;;) {
        const b = Number(v & 0xffn);
        out.push(b);
        v >>= 8n;
        if ((v === 0n && !(b & 0x80)) || (v === -1n && b & 0x80)) break;
      }
      this.byte(0x8a, out.length, ...out);
    }
  }

  float(x: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    this.byte(0x47);
    this.bytes(b);
  }

  /** Starts a tuple: items go between mark() and tuple(n). */
  mark(): void {
    this.byte(0x28);
  }

  tuple(n: number): void {
    if (n === 0) this.byte(0x29);
    else if (n <= 3) this.byte(0x84 + n);
    else this.byte(0x74);
  }

  /** Emits BINGET when key was memoized (returns true), else nothing. */
  get(key: unknown): boolean {
    const i = this.memo.get(key);
    if (i === undefined) return false;
    if (i < 256) this.byte(0x68, i);
    else this.u32(0x6a, i);
    return true;
  }

  put(key: unknown): void {
    const i = this.memo.size;
    this.memo.set(key, i);
    if (i < 256) this.byte(0x71, i);
    else this.u32(0x72, i);
  }

  /** Any value of the py.ts model; path names it in errors. */
  value(v: PyInput, path: string, depth: number): void {
    if (depth > MAX_DEPTH) throw new ArgumentError(`${path || 'value'}: nested deeper than ${MAX_DEPTH}`);
    const at = path || 'value';
    if (v === null || typeof v === 'boolean') {
      this.byte(v === null ? 0x4e : v ? 0x88 : 0x89);
      return;
    }
    if (typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v) && !Object.is(v, -0))) {
      this.int(v);
      return;
    }
    if (typeof v === 'number') {
      this.float(v);
      return;
    }
    if (typeof v === 'string') {
      this.str(v);
      return;
    }
    if (typeof v !== 'object') throw new ArgumentError(`${at}: cannot save a value of type ${typeof v}`);
    if (v instanceof PyGlobal) {
      if (!/^[A-Za-z_][\w.]*$/.test(v.module) || !/^[A-Za-z_]\w*$/.test(v.name))
        throw new ArgumentError(`${at}: invalid global name ${JSON.stringify(`${v.module}.${v.name}`)}`);
      this.global(v.module, v.name);
      return;
    }
    if (this.get(v)) return;
    if (isRawTensor(v)) {
      this.writeTensor(this, v, at);
      this.put(v);
      return;
    }
    if (v instanceof Uint8Array) {
      // protocol 2 spelling of bytes: _codecs.encode(latin1 text, 'latin1')
      this.global('_codecs', 'encode');
      let s = '';
      for (let i = 0; i < v.length; i += 4096) s += String.fromCharCode(...v.subarray(i, i + 4096));
      this.str(s);
      this.str('latin1');
      this.tuple(2);
      this.byte(0x52);
      this.put(v);
      return;
    }
    if (isTuple(v)) {
      if (this.inProgress.has(v)) throw new ArgumentError(`${at}: a tuple contains itself`);
      this.inProgress.add(v);
      if (v.length > 3) this.mark();
      for (let i = 0; i < v.length; i++) this.value(v[i]!, `${path}[${i}]`, depth + 1);
      this.inProgress.delete(v);
      this.tuple(v.length);
      this.put(v);
      return;
    }
    if (Array.isArray(v)) {
      this.byte(0x5d); // EMPTY_LIST
      this.put(v);
      this.batches(v, (x, i) => this.value(x, `${path}[${i}]`, depth + 1), 0x65);
      return;
    }
    if (v instanceof PyOrderedDict) {
      this.global('collections', 'OrderedDict');
      this.byte(0x29, 0x52); // EMPTY_TUPLE REDUCE
      this.put(v);
      this.entries(v, path, depth);
      if (v.attributes.size > 0) {
        this.value(v.attributes, `${path}.__dict__`, depth + 1);
        this.byte(0x62); // BUILD
      }
      return;
    }
    if (v instanceof Map) {
      this.byte(0x7d); // EMPTY_DICT
      this.put(v);
      this.entries(v, path, depth);
      return;
    }
    if (v instanceof Set) {
      this.global('__builtin__', 'set');
      this.byte(0x5d);
      this.batches(
        [...v],
        (x, i) => {
          if (!isPyKey(x)) throw new ArgumentError(`${at}: set item ${i} is not hashable`);
          this.value(x, `${path}{${i}}`, depth + 1);
        },
        0x65,
      );
      this.tuple(1);
      this.byte(0x52);
      this.put(v);
      return;
    }
    if (v instanceof PyObject) {
      if (v.className !== 'argparse.Namespace') throw new ArgumentError(`${at}: cannot save a ${v.className}`);
      this.global('argparse', 'Namespace');
      this.byte(0x29, 0x81); // EMPTY_TUPLE NEWOBJ
      this.put(v);
      this.value(v.attributes, `${path}.__dict__`, depth + 1);
      this.byte(0x62);
      return;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      throw new ArgumentError(`${at}: cannot save a ${proto?.constructor?.name ?? 'object'} (not a plain value)`);
    }
    this.byte(0x7d);
    this.put(v);
    this.entries(new Map(Object.entries(v)), path, depth);
  }

  private entries(m: Map<unknown, unknown>, path: string, depth: number): void {
    const items = [...m];
    this.batches(
      items,
      ([k, x]) => {
        const ks = typeof k === 'string' ? k : String(k);
        if (!isPyKey(k))
          throw new ArgumentError(`${path || 'value'}: dict key ${ks} is not a str, number, bool, None or tuple`);
        this.value(k, `${path}<key ${ks}>`, depth + 1);
        this.value(x as PyInput, path ? `${path}.${ks}` : ks, depth + 1);
      },
      0x75,
    );
  }

  /** APPENDS / SETITEMS in batches of 1000, as Python's pickler does. */
  private batches<T>(items: readonly T[], each: (x: T, i: number) => void, op: number): void {
    for (let start = 0; start < items.length; start += 1000) {
      const end = Math.min(items.length, start + 1000);
      this.mark();
      for (let i = start; i < end; i++) each(items[i]!, i);
      this.byte(op);
    }
  }
}
