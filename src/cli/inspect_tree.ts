// What a checkpoint holds, for `graft inspect`: a tree of sub-dicts, values and tensors (dtype,
// shape, element count) with totals, as text or as flat JSON lists.
import {
  childrenOf,
  describeValue,
  FORMAT_NAMES,
  flattenLeaves,
  isLeaf,
  type Leaf,
  type OpenedCheckpoint,
} from '../io/index.ts';
import { DTYPE_BYTES } from '../tensor/dtype.ts';

export interface Totals {
  tensors: number;
  elements: number;
  bytes: number;
}

const numel = (t: Leaf) => t.shape.reduce((a, b) => a * b, 1);

export function totals(v: unknown): Totals {
  const out = { tensors: 0, elements: 0, bytes: 0 };
  for (const t of flattenLeaves(v).values()) {
    const n = numel(t);
    out.tensors++;
    out.elements += n;
    out.bytes += n * DTYPE_BYTES[t.dtype];
  }
  return out;
}

export const fmtInt = (n: number) => n.toLocaleString('en-US');

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${x.toFixed(1)} ${units[i]}`;
}

const fmtTotals = (t: Totals) =>
  `${fmtInt(t.tensors)} tensor${t.tensors === 1 ? '' : 's'}, ${fmtInt(t.elements)} elements, ${fmtBytes(t.bytes)}`;

function scalarText(v: unknown): string | null {
  if (v === null) return 'None';
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v).replace(/^"|"$/g, "'");
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'bigint') return `${v}`;
  if (v instanceof Uint8Array) return `bytes of length ${v.length}`;
  if (v instanceof Set) return `set of ${v.size}`;
  return null;
}

/** A list whose items are all scalars, shown on one line. */
function inlineList(v: unknown): string | null {
  if (!Array.isArray(v) || v.some((x) => scalarText(x) === null)) return null;
  const shown = v.slice(0, 8).map((x) => scalarText(x)!);
  const kind = Object.isFrozen(v) ? 'tuple' : 'list';
  return `${kind} of ${v.length}${v.length ? ` [${shown.join(', ')}${v.length > 8 ? ', ...' : ''}]` : ''}`;
}

export interface TreeOptions {
  /** at most this many entries per container (0: all) */
  limit?: number;
  /** containers deeper than this are summarised (0: no limit) */
  depth?: number;
}

/** The header lines and the tree. */
export function renderTree(c: OpenedCheckpoint, opts: TreeOptions = {}): string[] {
  const all = totals(c.root);
  const lines = [`${c.file}: ${FORMAT_NAMES[c.format]}, ${fmtBytes(c.bytes)} on disk; ${fmtTotals(all)}`];
  if (c.tfjs) {
    const m = c.tfjs.meta;
    lines.push(
      `keras ${m.keras_version ?? '?'} (${m.backend ?? '?'}), ${m.class_name ?? 'model'} of ${c.tfjs.layers.length} layers`,
    );
  } else if (c.metadata) lines.push(`metadata: ${JSON.stringify(c.metadata)}`);
  if (c.shards) lines.push(`shards: ${c.shards.join(', ')}`);
  lines.push(c.tfjs ? 'weights by Keras name' : describeValue(c.root));
  const seen = new Set<object>();
  const limit = opts.limit ?? 0;
  // An explicit stack, not recursion: a file may nest as deep as the reader's maxDepth allows.
  interface Frame {
    kids: [string, unknown][];
    shown: [string, unknown][];
    i: number;
    indent: string;
    depth: number;
    w: { key: number; dtype: number; shape: number };
  }
  const open = (node: unknown, indent: string, depth: number): Frame => {
    const kids = childrenOf(node) ?? [];
    seen.add(node as object);
    const shown = limit > 0 ? kids.slice(0, limit) : kids;
    const tensorRows = shown.filter(([, v]) => isLeaf(v)) as [string, Leaf][];
    let w = { key: 0, dtype: 0, shape: 0 };
    for (const [k, t] of tensorRows)
      w = {
        key: Math.max(w.key, k.length),
        dtype: Math.max(w.dtype, t.dtype.length),
        shape: Math.max(w.shape, `[${t.shape.join(', ')}]`.length),
      };
    return { kids, shown, i: 0, indent, depth, w };
  };
  const stack: Frame[] = [open(c.root, '', 0)];
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    const { kids, shown, indent, depth, w } = f;
    if (f.i >= shown.length) {
      if (shown.length < kids.length) lines.push(`${indent}└─ ... ${kids.length - shown.length} more`);
      stack.pop();
      continue;
    }
    const i = f.i++;
    const [k, v] = shown[i]!;
    const last = i === shown.length - 1 && shown.length === kids.length;
    const branch = `${indent}${last ? '└─ ' : '├─ '}`;
    const next = `${indent}${last ? '   ' : '│  '}`;
    if (isLeaf(v)) {
      const shape = `[${v.shape.join(', ')}]`;
      lines.push(
        `${branch}${k.padEnd(w.key)}  ${v.dtype.padEnd(w.dtype)}  ${shape.padEnd(w.shape)}  ${fmtInt(numel(v)).padStart(11)}`,
      );
      continue;
    }
    const scalar = scalarText(v) ?? inlineList(v);
    if (scalar !== null) {
      lines.push(`${branch}${k}: ${scalar}`);
      continue;
    }
    if (childrenOf(v) === null) {
      lines.push(`${branch}${k}: ${describeValue(v)}`);
      continue;
    }
    if (seen.has(v as object)) {
      lines.push(`${branch}${k}: ${describeValue(v)} (the same object as above)`);
      continue;
    }
    const n = childrenOf(v)!.length;
    const t = totals(v);
    const what = n === 0 ? 'empty' : t.tensors ? fmtTotals(t) : `${n} entr${n === 1 ? 'y' : 'ies'}`;
    lines.push(`${branch}${k}: ${describeValue(v)}, ${what}`);
    if (opts.depth && depth + 1 >= opts.depth) {
      if (n) lines.push(`${next}...`);
      continue;
    }
    stack.push(open(v, next, depth + 1));
  }
  return lines;
}

/** Flat lists for scripts: every tensor, every plain value and every container, by dotted path. */
export function treeJson(c: OpenedCheckpoint): Record<string, unknown> {
  const tensors: { key: string; dtype: string; shape: number[]; numel: number }[] = [];
  const values: { key: string; value: unknown }[] = [];
  const containers: { key: string; type: string; entries: number; tensors: number; elements: number; bytes: number }[] =
    [];
  const seen = new Set<object>();
  // pre-order, with an explicit stack (no recursion, whatever the depth)
  const stack: [unknown, string][] = [[c.root, '']];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (isLeaf(node)) {
      tensors.push({ key: path, dtype: node.dtype, shape: [...node.shape], numel: numel(node) });
      continue;
    }
    const kids = childrenOf(node);
    if (kids === null || seen.has(node as object)) {
      const s = scalarText(node);
      values.push({
        key: path,
        value:
          typeof node === 'bigint'
            ? String(node)
            : typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean' || node === null
              ? node
              : (s ?? describeValue(node)),
      });
      continue;
    }
    seen.add(node as object);
    containers.push({ key: path, type: describeValue(node), entries: kids.length, ...totals(node) });
    for (let i = kids.length - 1; i >= 0; i--) {
      const [k, v] = kids[i]!;
      stack.push([v, path === '' ? k : `${path}.${k}`]);
    }
  }
  return {
    file: c.file,
    format: c.format,
    bytes: c.bytes,
    metadata: c.metadata,
    ...(c.shards ? { shards: c.shards } : {}),
    ...(c.tfjs ? { layers: c.tfjs.layers.map((l) => ({ name: l.name, className: l.className })) } : {}),
    totals: totals(c.root),
    containers,
    tensors,
    values,
  };
}
