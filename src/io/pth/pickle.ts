// A restricted unpickler: the opcodes of pickle protocols 0-5 that torch checkpoints use.
// GLOBAL resolves only through the allowlist in globals.ts, REDUCE/NEWOBJ only call its TS
// implementations, BUILD only sets attributes on OrderedDict/Namespace. Every read is bounds
// checked and every malformed input is a CheckpointError: never a RangeError, never a hang.
import { CheckpointError } from '../../errors.ts';
import { isPyKey, type PyKey, PyObject, PyOrderedDict, type PyValue } from '../py.ts';
import { GlobalRef, resolveGlobal } from './globals.ts';
import type { LoadContext } from './storage.ts';

export interface UnpickleOptions {
  file: string;
  /** Which pickle inside the file, for messages: 'archive/data.pkl', 'main pickle'. */
  where: string;
  ctx: LoadContext;
  persistentLoad?: (pid: unknown, ctx: LoadContext) => unknown;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const MAX_LONG_BYTES = 1024;

/** Unpickles one object starting at `start`; `end` is the offset just past its STOP opcode. */
export function unpickle(bytes: Uint8Array, start: number, opts: UnpickleOptions): { value: unknown; end: number } {
  let pos = start;
  let opPos = start;
  const fail = (reason: string, hint?: string): never => {
    throw new CheckpointError(opts.file, `${opts.where}: ${reason} (opcode at byte ${opPos})`, hint);
  };
  const ctx: LoadContext = { fail, rebuildTensor: (s, o, sz, st) => opts.ctx.rebuildTensor(s, o, sz, st, fail) };
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  const need = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > bytes.length) fail(`truncated pickle (needs ${n} more bytes)`);
    const p = pos;
    pos += n;
    return p;
  };
  const u8 = () => bytes[need(1)]!;
  const u16 = () => view.getUint16(need(2), true);
  const i32 = () => view.getInt32(need(4), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = (): number => {
    const v = view.getBigUint64(need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('length too large');
    return Number(v);
  };
  const take = (n: number) => bytes.subarray(need(n), pos);
  const text = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail('invalid UTF-8 in string');
    }
  };
  const line = (): string => {
    const nl = bytes.indexOf(10, pos);
    if (nl < 0) fail('truncated pickle (unterminated line)');
    const s = text(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const floor = () => (marks.length > 0 ? marks[marks.length - 1]! : 0);
  const pop = (): unknown => {
    if (stack.length <= floor()) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length <= floor()) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    if (marks.length === 0) fail('no MARK on the stack');
    return stack.splice(marks.pop()!);
  };
  const key = (k: unknown): PyKey => (isPyKey(k) ? k : fail('dict key is not hashable'));
  const dictTarget = (): Map<PyKey, unknown> => {
    const d = top();
    return d instanceof Map ? d : fail(`SETITEM on ${kind(d)}`);
  };
  const listTarget = (): unknown[] => {
    const l = top();
    return Array.isArray(l) && !Object.isFrozen(l) ? l : fail(`APPEND on ${kind(l)}`);
  };
  const memoGet = (i: number): unknown => (memo.has(i) ? memo.get(i) : fail(`memo entry ${i} was never stored`));
  const intText = (s: string): number | bigint => {
    if (!/^[-+]?\d{1,400}$/.test(s)) fail(`invalid integer literal ${JSON.stringify(s.slice(0, 40))}`);
    return toNumber(BigInt(s));
  };
  const resolve = (module: string, name: string) => resolveGlobal(module, name, ctx);

  for (;;) {
    opPos = pos;
    if (pos >= bytes.length) fail('truncated pickle (no STOP opcode)');
    const op = bytes[pos++]!;
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('unsupported pickle protocol');
        break;
      case 0x95: // FRAME: framing is advisory, the length is not needed
        u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (stack.length > floor()) stack.pop();
        else popMark();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0 || n > MAX_LONG_BYTES) fail(`integer of ${n} bytes is not supported`);
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x49: {
        // INT (text): protocol 0 spells bools as 00 / 01
        const s = line();
        stack.push(s === '00' ? false : s === '01' ? true : intText(s));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(intText(line().replace(/L$/, '')));
        break;
      case 0x46: {
        // FLOAT (text)
        const s = line().trim();
        const v = s === 'inf' ? Infinity : s === '-inf' ? -Infinity : s === 'nan' ? NaN : Number(s);
        if (Number.isNaN(v) && s !== 'nan') fail(`invalid float literal ${JSON.stringify(s.slice(0, 40))}`);
        stack.push(v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        stack.push(text(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(take(u64())));
        break;
      case 0x54: {
        // BINSTRING (Python 2 str; torch.load decodes as utf-8)
        const n = i32();
        if (n < 0) fail('negative string length');
        stack.push(text(take(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(text(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(Object.freeze([]));
        break;
      case 0x85: // TUPLE1
        stack.push(Object.freeze([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(Object.freeze([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(Object.freeze([pop(), b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(Object.freeze(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        listTarget().push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = listTarget();
        for (const v of items) l.push(v);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        if (items.length % 2 !== 0) fail('DICT with an odd number of items');
        const d = new Map<PyKey, unknown>();
        for (let i = 0; i < items.length; i += 2) d.set(key(items[i]), items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = key(pop());
        dictTarget().set(k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        if (items.length % 2 !== 0) fail('SETITEMS with an odd number of items');
        const d = dictTarget();
        for (let i = 0; i < items.length; i += 2) d.set(key(items[i]), items[i + 1]);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on ${kind(s)}`);
        for (const x of items) (s as Set<PyKey>).add(key(x));
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark().map(key)));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x70: // PUT (text)
        memo.set(Number(intText(line())), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x67: // GET (text)
        stack.push(memoGet(Number(intText(line()))));
        break;
      case 0x63: {
        // GLOBAL
        const module = line();
        stack.push(resolve(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL of non-strings');
        stack.push(resolve(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = top();
        if (!(fn instanceof GlobalRef) || !fn.call) fail(`REDUCE on ${kind(fn)}`);
        if (!Array.isArray(args)) fail('REDUCE arguments are not a tuple');
        stack[stack.length - 1] = (fn as GlobalRef).call!(args as unknown[], ctx);
        break;
      }
      case 0x81: // NEWOBJ
      case 0x92: {
        // NEWOBJ_EX
        if (op === 0x92) {
          const kw = pop();
          if (!(kw instanceof Map) || kw.size > 0) fail('NEWOBJ_EX with keyword arguments');
        }
        const args = pop();
        const cls = pop();
        if (!(cls instanceof GlobalRef) || !cls.construct) fail(`NEWOBJ on ${kind(cls)}`);
        if (!Array.isArray(args)) fail('NEWOBJ arguments are not a tuple');
        stack.push((cls as GlobalRef).construct!(args as unknown[], ctx));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        build(top(), state, fail);
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail('persistent id outside a torch checkpoint');
        stack.push(opts.persistentLoad!(pid, ctx));
        break;
      }
      case 0x50: {
        // PERSID (text)
        const pid = line();
        if (!opts.persistentLoad) fail('persistent id outside a torch checkpoint');
        stack.push(opts.persistentLoad!(pid, ctx));
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${opName(op)}`);
    }
  }
}

/** BUILD: instance attributes from a dict state, only on OrderedDict and argparse.Namespace. */
function build(inst: unknown, state: unknown, fail: (r: string) => never): void {
  let attrs = state;
  if (Array.isArray(state) && state.length === 2 && state[1] === null) attrs = state[0];
  if (!(inst instanceof PyOrderedDict) && !(inst instanceof PyObject)) fail(`BUILD on ${kind(inst)}`);
  if (attrs === null) return;
  if (!(attrs instanceof Map)) fail('BUILD state is not a dict');
  for (const [k, v] of attrs as Map<unknown, unknown>) {
    if (typeof k !== 'string') fail('BUILD attribute name is not a string');
    (inst as PyOrderedDict | PyObject).attributes.set(k as string, v as PyValue);
  }
}

/** Little-endian two's complement, as LONG1/LONG4 store it. */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return toNumber(v);
}

function toNumber(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function kind(x: unknown): string {
  if (x instanceof GlobalRef) return x.name;
  if (x === null) return 'None';
  if (Array.isArray(x)) return Object.isFrozen(x) ? 'a tuple' : 'a list';
  if (x instanceof Map) return 'a dict';
  if (typeof x === 'object') return `a ${x.constructor?.name ?? 'object'}`;
  return `a ${typeof x}`;
}

const REFUSED: Record<number, string> = {
  83: 'STRING',
  86: 'UNICODE',
  105: 'INST',
  111: 'OBJ',
  130: 'EXT1',
  131: 'EXT2',
  132: 'EXT4',
  151: 'NEXT_BUFFER',
  152: 'READONLY_BUFFER',
};

function opName(op: number): string {
  return REFUSED[op] ? ` (${REFUSED[op]})` : '';
}
