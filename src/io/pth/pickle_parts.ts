// Pieces of the restricted unpickler (pickle.ts): BUILD, integer decoding, names for messages.
import { PyObject, PyOrderedDict, type PyValue } from '../py.ts';
import { GlobalRef } from './globals.ts';
import { COST } from './limits.ts';

/** BUILD: instance attributes from a dict state, only on OrderedDict and argparse.Namespace. */
export function build(inst: unknown, state: unknown, fail: (r: string) => never, charge: (n: number) => void): void {
  let attrs = state;
  if (Array.isArray(state) && state.length === 2 && state[1] === null) attrs = state[0];
  if (!(inst instanceof PyOrderedDict) && !(inst instanceof PyObject)) fail(`BUILD on ${kind(inst)}`);
  if (attrs === null) return;
  if (!(attrs instanceof Map)) fail('BUILD state is not a dict');
  charge(COST.dictItem * (attrs as Map<unknown, unknown>).size);
  for (const [k, v] of attrs as Map<unknown, unknown>) {
    if (typeof k !== 'string') fail('BUILD attribute name is not a string');
    (inst as PyOrderedDict | PyObject).attributes.set(k as string, v as PyValue);
  }
}

/** Little-endian two's complement, as LONG1/LONG4 store it. */
export function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return toNumber(v);
}

export function toNumber(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function kind(x: unknown): string {
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

export function opName(op: number): string {
  return REFUSED[op] ? ` (${REFUSED[op]})` : '';
}
