// The load report: what a load plan did (or would do) with every checkpoint and model key,
// as lists, counts, an aligned text table and JSON.
import { CheckpointError } from '../../errors.ts';
import type { DType } from '../../tensor/dtype.ts';
import { FORMAT_NAMES, type SourceFormat } from './source.ts';

/**
 * loaded: copied into the model · mismatch: shapes differ and the policy is 'error' (the load fails) ·
 * skipped: shapes differ, left as initialised · excluded: by include / exclude / fromPrefix ·
 * missing: a model key the checkpoint lacks (left as initialised: a new layer) · default: missing too,
 * but the module has a default for it (BatchNorm num_batches_tracked), never an error ·
 * unexpected: a checkpoint key (after renaming) the model lacks · tied: a model key holding the same
 * tensor as another (GPT-2's lm_head.weight is transformer.wte.weight): filled when that key is.
 */
export type RowStatus = 'loaded' | 'mismatch' | 'skipped' | 'excluded' | 'missing' | 'default' | 'unexpected' | 'tied';

export interface LoadRow {
  status: RowStatus;
  /** the model key (for checkpoint-only rows: the checkpoint key after renaming) */
  key: string;
  /** the checkpoint key as the file has it (within the sub-dict); null for keys it lacks */
  from: string | null;
  shape: number[] | null;
  dtype: DType | null;
  modelShape: number[] | null;
  modelDtype: DType | null;
  /** a model parameter (not a buffer): counted in `parameters` (a tied key counts once, under its first name) */
  parameter: boolean;
  /**
   * a model key the checkpoint provides after the plan's filters: loaded, skipped for shape or
   * mismatched (a tied key: when its source is); false for excluded, missing and checkpoint-only rows
   */
  inCheckpoint: boolean;
  /** status 'tied': the model key whose tensor this one is */
  tiedTo?: string;
  /** what excluded it (or, for 'tied', what it is tied to) */
  by?: string;
}

export interface SubDictTaken {
  /** dotted path ('' = the checkpoint itself) */
  path: string;
  auto: boolean;
  /** other sub-dicts holding tensors at that level */
  alternatives: string[];
}

export interface ReportContext {
  file: string;
  format: SourceFormat;
  subDict: SubDictTaken;
  /** the plan's steps, described */
  plan: string[];
  notes: string[];
}

export interface ShapeSkip {
  key: string;
  from: string;
  checkpoint: number[];
  model: number[];
}

const numel = (s: readonly number[] | null): number => (s ? s.reduce((a, b) => a * b, 1) : 0);
export const fmtShape = (s: readonly number[] | null): string => (s ? `[${s.join(', ')}]` : '-');
export const fmtInt = (n: number): string => n.toLocaleString('en-US');

/** A load plan's outcome. JSON.stringify(report) gives every list below plus counts. */
export class LoadReport {
  readonly file: string;
  readonly format: SourceFormat;
  readonly subDict: SubDictTaken;
  readonly plan: string[];
  readonly notes: string[];
  /** model keys filled from the checkpoint, in model order */
  readonly loaded: string[];
  /** checkpoint key -> key after renaming, for every key the rules (or a converter) changed */
  readonly renamed: { from: string; to: string }[];
  readonly skippedShape: ShapeSkip[];
  /** shape mismatches under onShapeMismatch 'error': the load fails */
  readonly mismatched: ShapeSkip[];
  readonly excluded: { key: string; from: string; by: string }[];
  /** model keys the checkpoint lacks, left as initialised (new layers) */
  readonly missing: string[];
  /** model keys the checkpoint lacks that have a module default (left as they are, never an error) */
  readonly defaulted: string[];
  /** checkpoint keys (after renaming) the model lacks */
  readonly unexpected: string[];
  /** loaded keys whose dtype changes to the model's */
  readonly cast: { key: string; from: DType; to: DType }[];
  /** model keys that are the same tensor as another key (tied weights), and that key */
  readonly tied: { key: string; to: string }[];
  /**
   * model keys (model order) the checkpoint provides after the plan's filters, whether loaded or
   * skipped for shape: what a "present in the checkpoint" selector takes
   */
  readonly inCheckpoint: string[];
  readonly counts: Record<
    | 'checkpoint'
    | 'model'
    | 'loaded'
    | 'renamed'
    | 'skippedShape'
    | 'mismatched'
    | 'excluded'
    | 'missing'
    | 'defaulted'
    | 'unexpected'
    | 'cast'
    | 'tied',
    number
  >;
  /** element counts of model parameters (buffers not counted): loaded vs left as initialised */
  readonly parameters: { total: number; loaded: number; new: number };
  readonly #rows: LoadRow[];
  #error: LoadPlanError | null = null;

  constructor(ctx: ReportContext, rows: LoadRow[], checkpointKeys: number) {
    this.file = ctx.file;
    this.format = ctx.format;
    this.subDict = ctx.subDict;
    this.plan = ctx.plan;
    this.notes = ctx.notes;
    this.#rows = rows;
    const by = (s: RowStatus) => rows.filter((r) => r.status === s);
    const skip = (r: LoadRow): ShapeSkip => ({ key: r.key, from: r.from!, checkpoint: r.shape!, model: r.modelShape! });
    this.loaded = by('loaded').map((r) => r.key);
    this.renamed = rows.filter((r) => r.from !== null && r.from !== r.key).map((r) => ({ from: r.from!, to: r.key }));
    this.skippedShape = by('skipped').map(skip);
    this.mismatched = by('mismatch').map(skip);
    this.excluded = by('excluded').map((r) => ({ key: r.key, from: r.from!, by: r.by ?? 'exclude' }));
    this.missing = by('missing').map((r) => r.key);
    this.defaulted = by('default').map((r) => r.key);
    this.unexpected = by('unexpected').map((r) => r.key);
    this.cast = by('loaded')
      .filter((r) => r.dtype !== r.modelDtype)
      .map((r) => ({ key: r.key, from: r.dtype!, to: r.modelDtype! }));
    this.tied = by('tied').map((r) => ({ key: r.key, to: r.tiedTo! }));
    this.inCheckpoint = rows.filter((r) => r.inCheckpoint).map((r) => r.key);
    const modelRows = rows.filter((r) => r.modelShape !== null);
    const params = modelRows.filter((r) => r.parameter);
    const total = params.reduce((a, r) => a + numel(r.modelShape), 0);
    const loaded = params.filter((r) => r.status === 'loaded').reduce((a, r) => a + numel(r.modelShape), 0);
    this.parameters = { total, loaded, new: total - loaded };
    this.counts = {
      checkpoint: checkpointKeys,
      model: modelRows.length,
      loaded: this.loaded.length,
      renamed: this.renamed.length,
      skippedShape: this.skippedShape.length,
      mismatched: this.mismatched.length,
      excluded: this.excluded.length,
      missing: this.missing.length,
      defaulted: this.defaulted.length,
      unexpected: this.unexpected.length,
      cast: this.cast.length,
      tied: this.tied.length,
    };
  }

  /** Every key once: model keys in model order, then checkpoint-only keys in checkpoint order. */
  rows(): readonly LoadRow[] {
    return this.#rows;
  }

  /** Shape-skipped and excluded keys, as finetune's selectors read them. */
  get skipped(): { key: string; reason: string }[] {
    return [
      ...this.skippedShape.map((s) => ({ key: s.key, reason: 'shape' })),
      ...this.excluded.map((e) => ({ key: e.key, reason: e.by })),
    ];
  }

  /** Why the load fails (or would fail), or null. */
  get error(): LoadPlanError | null {
    return this.#error;
  }

  get ok(): boolean {
    return this.#error === null;
  }

  /** @internal set by planLoad */
  setError(e: LoadPlanError | null): void {
    this.#error = e;
  }

  /** Throws the LoadPlanError when the plan fails; else returns the report. */
  check(): this {
    if (this.#error) throw this.#error;
    return this;
  }

  /** Two lines: keys and parameters loaded vs new, then the other counts. */
  summary(): string {
    const c = this.counts;
    const p = this.parameters;
    return [
      `loaded ${c.loaded} of ${c.model} model keys, ${fmtInt(p.loaded)} of ${fmtInt(p.total)} parameters; ` +
        `${fmtInt(p.new)} parameters left as initialised`,
      `renamed ${c.renamed}, skipped for shape ${c.skippedShape}, excluded ${c.excluded}, ` +
        `new (not in checkpoint) ${c.missing}, unexpected ${c.unexpected}, cast ${c.cast}` +
        `${c.tied ? `, tied ${c.tied}` : ''}` +
        `${c.defaulted ? `, defaulted ${c.defaulted}` : ''}${c.mismatched ? `, MISMATCHED ${c.mismatched}` : ''}`,
    ].join('\n');
  }

  /**
   * The aligned table: header lines, one row per key, the summary and the error if any.
   * `loaded: false` hides loaded and defaulted rows; `error: false` leaves out the error line.
   */
  table(opts: { loaded?: boolean; error?: boolean } = {}): string {
    const sub = this.subDict;
    const where = sub.path === '' ? 'the checkpoint itself' : `'${sub.path}'`;
    const also = sub.alternatives.length ? `; also holding tensors: ${sub.alternatives.join(', ')}` : '';
    const head = [
      `checkpoint  ${this.file} (${FORMAT_NAMES[this.format]})`,
      `sub-dict    ${where}${sub.auto ? ' (auto)' : ''}${also}`,
      `plan        ${this.plan.length ? this.plan.join('; ') : 'load keys as they are'}`,
      ...this.notes.map((n) => `note        ${n}`),
    ];
    const label: Record<RowStatus, string> = {
      loaded: 'loaded',
      mismatch: 'MISMATCH',
      skipped: 'skip:shape',
      excluded: 'excluded',
      missing: 'new',
      default: 'default',
      unexpected: 'unexpected',
      tied: 'tied',
    };
    const shown = this.#rows.filter((r) => opts.loaded !== false || (r.status !== 'loaded' && r.status !== 'default'));
    const cells = shown.map((r) => {
      const same = r.shape && r.modelShape && fmtShape(r.shape) === fmtShape(r.modelShape);
      const shape =
        same || !r.modelShape
          ? fmtShape(r.shape ?? r.modelShape)
          : r.shape
            ? `${fmtShape(r.shape)} -> ${fmtShape(r.modelShape)}`
            : fmtShape(r.modelShape);
      const dt =
        r.dtype && r.modelDtype && r.dtype !== r.modelDtype
          ? `${r.dtype} -> ${r.modelDtype}`
          : (r.dtype ?? r.modelDtype ?? '');
      const from = r.from === null ? '-' : r.from === r.key ? '=' : r.from;
      return [label[r.status], r.key, from, shape, dt, r.by ?? ''];
    });
    const header = ['status', 'model key', 'checkpoint key', 'shape (checkpoint -> model)', 'dtype', ''];
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const line = (c: string[]) =>
      c
        .map((x, i) => x.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    const hidden = this.#rows.length - shown.length;
    return [
      ...head,
      '',
      line(header),
      ...cells.map(line),
      ...(hidden ? [`(${hidden} loaded or defaulted keys not shown)`] : []),
      '',
      this.summary(),
      ...(this.#error && opts.error !== false ? [`error: ${this.#error.message}`] : []),
    ].join('\n');
  }

  toString(): string {
    return this.table();
  }

  toJSON(): Record<string, unknown> {
    return {
      file: this.file,
      format: this.format,
      subDict: this.subDict,
      plan: this.plan,
      notes: this.notes,
      ok: this.ok,
      error: this.#error?.message ?? null,
      counts: this.counts,
      parameters: this.parameters,
      loaded: this.loaded,
      renamed: this.renamed,
      skippedShape: this.skippedShape,
      mismatched: this.mismatched,
      excluded: this.excluded,
      missing: this.missing,
      defaulted: this.defaulted,
      unexpected: this.unexpected,
      cast: this.cast,
      tied: this.tied,
      inCheckpoint: this.inCheckpoint,
    };
  }
}

/** A load plan that cannot be carried out: names the file and the keys; nothing was copied. */
export class LoadPlanError extends CheckpointError {
  readonly report: LoadReport;
  readonly mismatches: ShapeSkip[];
  readonly missingKeys: string[];
  readonly unexpectedKeys: string[];
  constructor(report: LoadReport, reason: string, hint?: string) {
    super(report.file, reason, hint);
    this.report = report;
    this.mismatches = report.mismatched;
    this.missingKeys = report.missing;
    this.unexpectedKeys = report.unexpected;
  }
}
