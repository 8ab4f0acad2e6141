// A restricted unpickler: the opcodes of pickle protocols 0-5 that torch checkpoints use.
// GLOBAL resolves only through the allowlist in globals.ts, REDUCE/NEWOBJ only call its TS
// implementations, BUILD only sets attributes on OrderedDict/Namespace. Every read is bounds
// checked and every malformed input is a CheckpointError: never a RangeError, never a hang.
// Resources are bounded (limits.ts): every container, item, string and copy the VM creates is
// charged to a budget proportional to the pickle's size, and tuple nesting is tracked as tuples
// are built, so hashability checks are O(1) and never recurse.
import { CheckpointError } from '../../errors.ts';
import type { PyKey } from '../py.ts';
import { GlobalRef, resolveGlobal } from './globals.ts';
import { AllocBudget, COST, resolveLimits } from './limits.ts';
import { build, decodeLong, kind, opName, toNumber } from './pickle_parts.ts';
import { PickleReader } from './pickle_reader.ts';
import type { LoadContext, VmContext } from './storage.ts';
import { TupleRecords } from './tuples.ts';

export interface UnpickleOptions {
  file: string;
  /** Which pickle inside the file, for messages: 'archive/data.pkl', 'main pickle'. */
  where: string;
  ctx: LoadContext;
  persistentLoad?: (pid: unknown, ctx: LoadContext) => unknown;
  /** shared by every pickle of one file; by default the limits for `bytes` (options and env apply) */
  budget?: AllocBudget;
}

const MAX_LONG_BYTES = 1024;

/** Unpickles one object starting at `start`; `end` is the offset just past its STOP opcode. */
export function unpickle(bytes: Uint8Array, start: number, opts: UnpickleOptions): { value: unknown; end: number } {
  let opPos = start;
  const fail = (reason: string, hint?: string): never => {
    throw new CheckpointError(opts.file, `${opts.where}: ${reason} (opcode at byte ${opPos})`, hint);
  };
  const budget = opts.budget ?? new AllocBudget(resolveLimits(bytes.length - start), fail);
  const charge = (n: number) => budget.charge(n, fail);
  const r = new PickleReader(bytes, start, fail, charge);
  const maxDepth = budget.limits.maxDepth;
  const tuples = new TupleRecords(maxDepth, fail);
  const makeTuple = (items: unknown[]): readonly unknown[] => {
    charge(COST.list + COST.dictItem + COST.listItem * items.length);
    return tuples.register(Object.freeze(items));
  };
  const isKey = (x: unknown): boolean => tuples.isKey(x);
  const ctx: VmContext = {
    fail,
    rebuildTensor: (s, o, sz, st) => {
      charge(COST.tensor);
      return opts.ctx.rebuildTensor(s, o, sz, st, fail);
    },
    charge,
    isKey,
  };
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const memoSet = (i: number) => {
    if (!memo.has(i)) charge(COST.memo);
    memo.set(i, top());
  };
  const bytesValue = (b: Uint8Array): Uint8Array => {
    charge(COST.string + b.length);
    return b.slice();
  };
  // Tuples an allowlisted call returns (torch.Size) join the VM's tuple records, so they hash in O(1).
  const fromGlobal = (v: unknown): unknown => (Array.isArray(v) && Object.isFrozen(v) ? tuples.register(v) : v);

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
  const key = (k: unknown): PyKey => (isKey(k) ? (k as PyKey) : fail('dict key is not hashable'));
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
    opPos = r.pos;
    if (r.pos >= bytes.length) fail('truncated pickle (no STOP opcode)');
    const op = bytes[r.pos++]!;
    switch (op) {
      case 0x80: // PROTO
        if (r.u8() > 5) fail('unsupported pickle protocol');
        break;
      case 0x95: // FRAME: framing is advisory, the length is not needed
        r.u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: r.pos };
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
        stack.push(r.u8());
        break;
      case 0x4d: // BININT2
        stack.push(r.u16());
        break;
      case 0x4a: // BININT
        stack.push(r.i32());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(r.take(r.u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = r.i32();
        if (n < 0 || n > MAX_LONG_BYTES) fail(`integer of ${n} bytes is not supported`);
        stack.push(decodeLong(r.take(n)));
        break;
      }
      case 0x49: {
        // INT (text): protocol 0 spells bools as 00 / 01
        const s = r.line();
        stack.push(s === '00' ? false : s === '01' ? true : intText(s));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(intText(r.line().replace(/L$/, '')));
        break;
      case 0x46: {
        // FLOAT (text)
        const s = r.line().trim();
        const v = s === 'inf' ? Infinity : s === '-inf' ? -Infinity : s === 'nan' ? NaN : Number(s);
        if (Number.isNaN(v) && s !== 'nan') fail(`invalid float literal ${JSON.stringify(s.slice(0, 40))}`);
        stack.push(v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(r.f64be());
        break;
      case 0x58: // BINUNICODE
        stack.push(r.text(r.take(r.u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(r.text(r.take(r.u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(r.text(r.take(r.u64())));
        break;
      case 0x54: {
        // BINSTRING (Python 2 str; torch.load decodes as utf-8)
        const n = r.i32();
        if (n < 0) fail('negative string length');
        stack.push(r.text(r.take(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(r.text(r.take(r.u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(bytesValue(r.take(r.u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytesValue(r.take(r.u8())));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(bytesValue(r.take(r.u64())));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(makeTuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(makeTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(makeTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(makeTuple([pop(), b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(makeTuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        charge(COST.list);
        stack.push([]);
        break;
      case 0x6c: {
        // LIST
        const items = popMark();
        charge(COST.list + COST.listItem * items.length);
        stack.push(items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        charge(COST.listItem);
        listTarget().push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = listTarget();
        charge(COST.listItem * items.length);
        for (const v of items) l.push(v);
        break;
      }
      case 0x7d: // EMPTY_DICT
        charge(COST.dict);
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        if (items.length % 2 !== 0) fail('DICT with an odd number of items');
        charge(COST.dict + (COST.dictItem * items.length) / 2);
        const d = new Map<PyKey, unknown>();
        for (let i = 0; i < items.length; i += 2) d.set(key(items[i]), items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = key(pop());
        charge(COST.dictItem);
        dictTarget().set(k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        if (items.length % 2 !== 0) fail('SETITEMS with an odd number of items');
        const d = dictTarget();
        charge((COST.dictItem * items.length) / 2);
        for (let i = 0; i < items.length; i += 2) d.set(key(items[i]), items[i + 1]);
        break;
      }
      case 0x8f: // EMPTY_SET
        charge(COST.dict);
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on ${kind(s)}`);
        charge(COST.dictItem * items.length);
        for (const x of items) (s as Set<PyKey>).add(key(x));
        break;
      }
      case 0x91: {
        // FROZENSET
        const items = popMark();
        charge(COST.dict + COST.dictItem * items.length);
        stack.push(new Set(items.map(key)));
        break;
      }
      case 0x71: // BINPUT
        memoSet(r.u8());
        break;
      case 0x72: // LONG_BINPUT
        memoSet(r.u32());
        break;
      case 0x70: // PUT (text)
        memoSet(Number(intText(r.line())));
        break;
      case 0x94: // MEMOIZE
        memoSet(memo.size);
        break;
      case 0x68: // BINGET
        stack.push(memoGet(r.u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(r.u32()));
        break;
      case 0x67: // GET (text)
        stack.push(memoGet(Number(intText(r.line()))));
        break;
      case 0x63: {
        // GLOBAL
        const module = r.line();
        stack.push(resolve(module, r.line()));
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
        stack[stack.length - 1] = fromGlobal((fn as GlobalRef).call!(args as unknown[], ctx));
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
        charge(COST.dict);
        stack.push((cls as GlobalRef).construct!(args as unknown[], ctx));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        build(top(), state, fail, charge);
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
        const pid = r.line();
        if (!opts.persistentLoad) fail('persistent id outside a torch checkpoint');
        stack.push(opts.persistentLoad!(pid, ctx));
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${opName(op)}`);
    }
  }
}
