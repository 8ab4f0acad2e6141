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
  const walk = (node: unknown, indent: string, depth: number) => {
    const kids = childrenOf(node) ?? [];
    seen.add(node as object);
    const shown = limit > 0 ? kids.slice(0, limit) : kids;
    const tensorRows = shown.filter(([, v]) => isLeaf(v)) as [string, Leaf][];
    const w = {
      key: Math.max(0, ...tensorRows.map(([k]) => k.length)),
      dtype: Math.max(0, ...tensorRows.map(([, t]) => t.dtype.length)),
      shape: Math.max(0, ...tensorRows.map(([, t]) => `[${t.shape.join(', ')}]`.length)),
    };
    shown.forEach(([k, v], i) => {
      const last = i === shown.length - 1 && shown.length === kids.length;
      const branch = `${indent}${last ? '└─ ' : '├─ '}`;
      const next = `${indent}${last ? '   ' : '│  '}`;
      if (isLeaf(v)) {
        const shape = `[${v.shape.join(', ')}]`;
        lines.push(
          `${branch}${k.padEnd(w.key)}  ${v.dtype.padEnd(w.dtype)}  ${shape.padEnd(w.shape)}  ${fmtInt(numel(v)).padStart(11)}`,
        );
        return;
      }
      const scalar = scalarText(v) ?? inlineList(v);
      if (scalar !== null) {
        lines.push(`${branch}${k}: ${scalar}`);
        return;
      }
      if (childrenOf(v) === null) {
        lines.push(`${branch}${k}: ${describeValue(v)}`);
        return;
      }
      if (seen.has(v as object)) {
        lines.push(`${branch}${k}: ${describeValue(v)} (the same object as above)`);
        return;
      }
      const n = childrenOf(v)!.length;
      const t = totals(v);
      const what = n === 0 ? 'empty' : t.tensors ? fmtTotals(t) : `${n} entr${n === 1 ? 'y' : 'ies'}`;
      lines.push(`${branch}${k}: ${describeValue(v)}, ${what}`);
      if (opts.depth && depth + 1 >= opts.depth) {
        if (n) lines.push(`${next}...`);
        return;
      }
      walk(v, next, depth + 1);
    });
    if (shown.length < kids.length) lines.push(`${indent}└─ ... ${kids.length - shown.length} more`);
  };
  walk(c.root, '', 0);
  return lines;
}

/** Flat lists for scripts: every tensor, every plain value and every container, by dotted path. */
export function treeJson(c: OpenedCheckpoint): Record<string, unknown> {
  const tensors: { key: string; dtype: string; shape: number[]; numel: number }[] = [];
  const values: { key: string; value: unknown }[] = [];
  const containers: { key: string; type: string; entries: number; tensors: number; elements: number; bytes: number }[] =
    [];
  const seen = new Set<object>();
  const walk = (node: unknown, path: string) => {
    if (isLeaf(node)) {
      tensors.push({ key: path, dtype: node.dtype, shape: [...node.shape], numel: numel(node) });
      return;
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
      return;
    }
    seen.add(node as object);
    containers.push({ key: path, type: describeValue(node), entries: kids.length, ...totals(node) });
    for (const [k, v] of kids) walk(v, path === '' ? k : `${path}.${k}`);
  };
  walk(c.root, '');
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
