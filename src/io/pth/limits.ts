// Resource limits for reading pickles (torch.load's object tree), one policy for every read path:
// nesting depth, and an allocation budget proportional to the pickle's size, so a small hostile
// file can neither overflow the stack nor make the reader allocate gigabytes. Both can be raised
// for a trusted file, by option or environment variable.
import { ArgumentError } from '../../errors.ts';

export interface PickleLimits {
  /**
   * Containers (lists, tuples, dicts, ...) nested deeper than this are refused (default 1000, as
   * Python's recursion limit; env GRAFT_PICKLE_MAX_DEPTH).
   */
  maxDepth?: number;
  /**
   * The memory the pickle's values may take, in bytes as graft estimates them (a dict 160, each
   * list item 8, each dict or set item 32, strings and bytes their length). Default: 16 times the
   * pickle's size (data.pkl in a zip checkpoint, the whole file in the legacy format), at least
   * 64 MiB; env GRAFT_PICKLE_MAX_BYTES. Copies count too: `set(x)` or `_codecs.encode(s)` called
   * again on the same (memoized) value allocates again.
   */
  maxAllocBytes?: number;
}

export const DEFAULT_MAX_DEPTH = 1000;
export const ALLOC_FLOOR = 64 * 2 ** 20;
export const ALLOC_PER_PICKLE_BYTE = 16;

/** Estimated sizes (bytes) of what the pickle VM creates; V8's, rounded. */
export const COST = {
  dict: 160,
  list: 32,
  listItem: 8,
  dictItem: 32,
  string: 16,
  memo: 32,
  tensor: 160,
} as const;

export interface ResolvedLimits {
  maxDepth: number;
  maxAllocBytes: number;
  /** how the budget was set, for messages */
  allocSource: string;
}

function fromEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]i?[bB]?)?\s*$/.exec(raw);
  if (!m) throw new ArgumentError(`${name}=${JSON.stringify(raw)} is not a number`, `e.g. ${name}=2000 or 1G`);
  const unit = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[(m[2] ?? '').charAt(0).toLowerCase()] ?? 1;
  return Math.floor(Number(m[1]) * unit);
}

function checkLimit(v: number | undefined, what: string): number | undefined {
  if (v !== undefined && (typeof v !== 'number' || !(v > 0)))
    throw new ArgumentError(`${what} must be a positive number`);
  return v;
}

export const fmtMiB = (n: number): string => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 1)} MiB`;

/** The limits for a pickle of `pickleBytes` bytes: options first, then the environment, then defaults. */
export function resolveLimits(pickleBytes: number, opts: PickleLimits = {}): ResolvedLimits {
  const maxDepth = checkLimit(opts.maxDepth, 'maxDepth') ?? fromEnv('GRAFT_PICKLE_MAX_DEPTH') ?? DEFAULT_MAX_DEPTH;
  const given = checkLimit(opts.maxAllocBytes, 'maxAllocBytes');
  if (given !== undefined) return { maxDepth, maxAllocBytes: given, allocSource: 'the maxAllocBytes option' };
  const env = fromEnv('GRAFT_PICKLE_MAX_BYTES');
  if (env !== undefined) return { maxDepth, maxAllocBytes: env, allocSource: 'GRAFT_PICKLE_MAX_BYTES' };
  const scaled = ALLOC_PER_PICKLE_BYTE * pickleBytes;
  return {
    maxDepth,
    maxAllocBytes: Math.max(ALLOC_FLOOR, scaled),
    allocSource:
      scaled > ALLOC_FLOOR ? `${ALLOC_PER_PICKLE_BYTE} x the pickle's ${fmtMiB(pickleBytes)}` : 'the default floor',
  };
}

/** The hint every refusal carries: how to raise the limit for a file you trust. */
export function raiseHint(option: keyof PickleLimits, env: string, value: number): string {
  return `if you trust this file, raise the limit: readPth(path, { ${option}: ${value} }) or ${env}=${value}`;
}

/** Counts estimated bytes as the VM creates values; fails once the budget is spent. */
export class AllocBudget {
  used = 0;
  constructor(
    readonly limits: ResolvedLimits,
    private readonly fail: (reason: string, hint?: string) => never,
  ) {}

  /** Call before allocating: a refusal comes before the memory is taken. `fail` says where. */
  charge(bytes: number, fail: (reason: string, hint?: string) => never = this.fail): void {
    this.used += bytes;
    if (this.used > this.limits.maxAllocBytes) {
      const limit = this.limits.maxAllocBytes;
      fail(
        `the pickle would create more than ${fmtMiB(limit)} of values (limit set by ${this.limits.allocSource})`,
        raiseHint('maxAllocBytes', 'GRAFT_PICKLE_MAX_BYTES', Math.max(limit * 4, 2 ** 30)),
      );
    }
  }
}
