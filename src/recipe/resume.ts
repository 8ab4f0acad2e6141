// Resuming a recipe run: which recipe fields may differ from the ones the run trained with (the rest
// is refused by name: a restored optimizer keeps its own lr, so a changed lr would be ignored while
// recipe.yaml claimed it), whether the schedule can be extended, and the data's identity (classes,
// counts, a hash of the samples) kept inside each checkpoint so a resume on other data is refused.
import { createHash } from 'node:crypto';
import YAML from 'yaml';
import { CausalLMDataset, ImageArrayDataset, ImageDataset, TextDataset } from '../data/index.ts';
import { RecipeError } from '../errors.ts';
import { TrainError } from '../train/index.ts';
import type { BuiltData } from './data.ts';
import type { Recipe } from './schema.ts';

/**
 * Fields that may change on resume, with what the change means (docs/reliability.md lists them).
 * A field matches itself and everything under it. The last phase's length is checked apart.
 */
export const RESUMABLE_FIELDS: readonly { path: string; means: string }[] = [
  { path: 'name', means: 'the run name in logs and the report' },
  { path: 'description', means: 'free text' },
  { path: 'output.dir', means: 'where the run folder is (the folder resumed)' },
  { path: 'train.threads', means: 'libtorch CPU threads (speed only)' },
  { path: 'train.distributed', means: 'timeout, gradient buckets and SyncBatchNorm of a run on several processes' },
  { path: 'train.logEvery', means: 'how often step records are logged from now on' },
  { path: 'train.report', means: 'whether report.html is written' },
  { path: 'log', means: 'TensorBoard / CSV logging from now on' },
  { path: 'train.export', means: 'what is exported at the end' },
  { path: 'train.checkpoint', means: 'checkpoint cadence (everySteps), keep-copies (keep), best.pth' },
  { path: 'train.earlyStopping.patience', means: 'epochs without improvement before stopping, from now on' },
  { path: 'data.workers', means: 'decoding threads (speed only)' },
  { path: 'data.prefetch', means: 'batches prepared ahead (speed only)' },
  { path: 'data.evalBatchSize', means: 'validation batch size (the same metrics)' },
  { path: 'data.root', means: 'where the data is (refused if the data itself changed)' },
  { path: 'data.train', means: 'where the training file is (refused if the data changed)' },
  { path: 'data.val', means: 'where the validation file is (refused if the data changed)' },
  { path: 'data.test', means: 'the test file (not used in training)' },
];

/** the last phase's length: may grow when its schedule does not depend on it (see checkExtension) */
const LENGTH_FIELDS = ['epochs', 'steps'];

type Leaves = Map<string, string>;

function flatten(v: unknown, path: string, out: Leaves): Leaves {
  if (Array.isArray(v) && v.length) {
    for (const [i, x] of v.entries()) flatten(x, `${path}[${i}]`, out);
  } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length)
    for (const [k, x] of Object.entries(v)) flatten(x, path ? `${path}.${k}` : k, out);
  else out.set(path, JSON.stringify(v));
  return out;
}

/** The recipe fields (leaf paths) whose values differ, in order. */
export function changedFields(before: unknown, after: unknown): { path: string; was?: string; now?: string }[] {
  const a = flatten(before, '', new Map());
  const b = flatten(after, '', new Map());
  const out: { path: string; was?: string; now?: string }[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()]))
    if (a.get(k) !== b.get(k)) out.push({ path: k, was: a.get(k), now: b.get(k) });
  return out;
}

const allowed = (path: string) =>
  RESUMABLE_FIELDS.some((f) => path === f.path || path.startsWith(`${f.path}.`) || path.startsWith(`${f.path}[`));

/** A recipe as compared on resume: what recipe.yaml holds, read back (so both sides are plain YAML data). */
export const comparable = (yamlText: string): Recipe => (YAML.parse(yamlText) ?? {}) as Recipe;

// schedulers whose length is fixed when they are built: a longer phase would step past its end
// (OneCycleLR raises "tried to step N times") or reshape the curve already half followed
const FIXED_HORIZON: Record<string, string[]> = {
  OneCycleLR: [],
  CosineAnnealingLR: ['T_max', 'tMax'],
  linear: ['num_training_steps', 'numTrainingSteps'],
  cosine: ['num_training_steps', 'numTrainingSteps'],
  cosine_with_restarts: ['num_training_steps', 'numTrainingSteps'],
  polynomial: ['num_training_steps', 'numTrainingSteps'],
};

type SchedSpec = { type?: unknown; [k: string]: unknown } | null | undefined;

/** The scheduler running in the last phase and the phase that started it (-1: the recipe's own). */
function lastScheduler(r: Recipe): { spec: SchedSpec; from: number } {
  let spec: SchedSpec = r.scheduler as SchedSpec;
  let from = -1;
  r.phases.forEach((p, i) => {
    const s = (p as { scheduler?: SchedSpec }).scheduler;
    if (s !== undefined) [spec, from] = [s, i];
  });
  return { spec, from };
}

function sizedByPhase(spec: SchedSpec): string | undefined {
  if (!spec || typeof spec.type !== 'string' || !(spec.type in FIXED_HORIZON)) return undefined;
  const explicit = FIXED_HORIZON[spec.type]!;
  if (spec.type !== 'OneCycleLR' && explicit.some((k) => spec[k] !== undefined)) return undefined;
  return spec.type;
}

export interface RunPosition {
  /** where training continues: 0-based epoch and batch */
  epoch: number;
  batch: number;
}

/**
 * Refuses every changed field outside RESUMABLE_FIELDS (naming it, with both values), and a new
 * length of the last phase when the run cannot be extended to it. Both recipes as comparable()
 * reads them. Returns the fields that changed (all allowed). Nothing is touched here.
 */
export function checkResumeChanges(before: Recipe, after: Recipe, at: RunPosition, runDir: string): string[] {
  const changes = changedFields(before, after);
  const last = after.phases.length - 1;
  const lengthPaths = LENGTH_FIELDS.map((f) => `phases[${last}].${f}`);
  const refused = changes.filter(
    (c) => !allowed(c.path) && !(before.phases.length === after.phases.length && lengthPaths.includes(c.path)),
  );
  const values = (c: { was?: string; now?: string }) =>
    `(trained with ${c.was ?? 'nothing'}, now ${c.now ?? 'nothing'})`;
  if (refused.length) {
    const [first, ...rest] = refused;
    throw new RecipeError(
      first!.path,
      `cannot change on resume ${values(first!)}${rest.map((c) => `; nor ${c.path} ${values(c)}`).join('')}. ` +
        "The run's restored state (optimizer, schedule, data order) would not follow the change, while the run folder would claim it did",
      `resume without these changes; to train on with them, start a new run from the weights: ` +
        `--set model.pretrained.checkpoint=${runDir}/checkpoints/last.pth --out NEW_RUN. ` +
        `Fields that may change on resume: ${RESUMABLE_FIELDS.map((f) => f.path).join(', ')}, and the last phase's epochs`,
    );
  }
  if (changes.some((c) => lengthPaths.includes(c.path))) checkExtension(before, after, at, runDir);
  return changes.map((c) => c.path);
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

function checkExtension(before: Recipe, after: Recipe, at: RunPosition, runDir: string): void {
  const last = after.phases.length - 1;
  const path = `phases[${last}].epochs`;
  const inEpochs = after.phases.every((p) => p.epochs !== undefined);
  const total = inEpochs ? after.phases.reduce((a, p) => a + p.epochs!, 0) : undefined;
  const trained = at.epoch + (at.batch > 0 ? 1 : 0);
  if (total !== undefined && total < trained)
    throw new RecipeError(
      path,
      `the run has already trained ${trained} epochs; ${after.phases[last]!.epochs} here makes ${total} in all`,
      `give at least ${after.phases[last]!.epochs! + trained - total}`,
    );
  const { spec, from } = lastScheduler(before);
  const sched = sizedByPhase(spec);
  if (!sched) return;
  // the scheduler is built when the phase that names it starts: before that its length is free
  const startEpoch = inEpochs ? before.phases.slice(0, Math.max(0, from)).reduce((a, p) => a + p.epochs!, 0) : 0;
  const built = !inEpochs || at.epoch > startEpoch || (at.epoch === startEpoch && at.batch > 0);
  if (!built) return;
  const was = before.phases[last]!;
  throw new RecipeError(
    path,
    `cannot extend this run: its ${sched} schedule was sized for ${plural(was.epochs ?? was.steps ?? 0, was.epochs !== undefined ? 'epoch' : 'step')} when it started, ` +
      'and a longer phase would step past its end',
    `resume with the phase length unchanged, or train on in a new run from the weights: ` +
      `--set model.pretrained.checkpoint=${runDir}/checkpoints/last.pth --out NEW_RUN`,
  );
}

// ---- the data's identity ----

export interface SplitFingerprint {
  count: number;
  /** samples per class index */
  classCounts: number[];
  /** sha256 of the samples' identities in order: file paths (relative to their common folder) or text, or pixels; with labels */
  hash: string;
}

export interface DataFingerprint {
  classes: string[];
  splits: Record<string, SplitFingerprint>;
}

function commonDir(files: readonly string[]): string {
  if (!files.length) return '';
  let prefix = files[0]!.slice(0, files[0]!.lastIndexOf('/') + 1);
  for (const f of files)
    while (prefix && !f.startsWith(prefix)) prefix = prefix.slice(0, prefix.lastIndexOf('/', prefix.length - 2) + 1);
  return prefix;
}

function splitFingerprint(ds: unknown): SplitFingerprint | undefined {
  const d = ds as { length?: number; targets?: readonly number[] } | undefined;
  if (!d || typeof d.length !== 'number') return undefined;
  const h = createHash('sha256');
  if (ds instanceof ImageDataset) {
    const base = commonDir(ds.samples.map((s) => s.file));
    for (const s of ds.samples) h.update(`${s.file.slice(base.length)}\t${s.label}\n`);
  } else if (ds instanceof TextDataset) {
    for (const s of ds.samples) h.update(`${s.text}\t${s.pair ?? ''}\t${s.label}\n`);
  } else if (ds instanceof CausalLMDataset) {
    // the tokens and which of them are trained on
    for (const e of ds.examples)
      h.update(new Uint8Array(e.ids.buffer, e.ids.byteOffset, e.ids.byteLength))
        .update(new Uint8Array(e.labels.buffer, e.labels.byteOffset, e.labels.byteLength))
        .update('\n');
  } else if (ds instanceof ImageArrayDataset) {
    for (let i = 0; i < ds.length; i++) h.update(ds.image(i).data).update(`\t${ds.targets[i]}\n`);
  } else h.update(JSON.stringify(d.targets ?? []));
  const classCounts: number[] = [];
  for (const t of d.targets ?? []) classCounts[t] = (classCounts[t] ?? 0) + 1;
  return { count: d.length, classCounts: Array.from(classCounts, (x) => x ?? 0), hash: h.digest('hex') };
}

/** The identity of the data a run trains and validates on. */
export function dataFingerprint(data: BuiltData): DataFingerprint {
  const splits: Record<string, SplitFingerprint> = {};
  for (const s of ['train', 'val'] as const) {
    const f = splitFingerprint(data.sets[s]);
    if (f) splits[s] = f;
  }
  return { classes: [...data.classes], splits };
}

/** What differs between the data a checkpoint trained on and the data now (empty: the same). */
export function dataChanges(was: DataFingerprint, now: DataFingerprint): string[] {
  const out: string[] = [];
  if (JSON.stringify(was.classes) !== JSON.stringify(now.classes)) {
    const gone = was.classes.filter((c) => !now.classes.includes(c));
    const added = now.classes.filter((c) => !was.classes.includes(c));
    out.push(
      gone.length || added.length
        ? `classes changed: ${gone.length ? `gone ${gone.join(', ')}` : ''}${gone.length && added.length ? '; ' : ''}${added.length ? `new ${added.join(', ')}` : ''} (labels would be remapped)`
        : `the class order changed: was ${was.classes.join(', ')}, now ${now.classes.join(', ')}`,
    );
  }
  for (const s of new Set([...Object.keys(was.splits), ...Object.keys(now.splits)])) {
    const a = was.splits[s];
    const b = now.splits[s];
    if (!a || !b) out.push(`the ${s} split ${a ? 'is gone' : 'is new'}`);
    else if (a.count !== b.count) out.push(`${s}: ${a.count} samples, now ${b.count}`);
    else if (JSON.stringify(a.classCounts) !== JSON.stringify(b.classCounts))
      out.push(`${s}: samples per class were ${a.classCounts.join('/')}, now ${b.classCounts.join('/')}`);
    else if (a.hash !== b.hash)
      out.push(`${s}: the same count, but other samples or labels (files replaced, renamed or relabelled)`);
  }
  return out;
}

/** Refuses a resume whose data differs from the data the checkpoint trained on. */
export function checkSameData(was: DataFingerprint | undefined, now: DataFingerprint, checkpoint: string): void {
  if (!was) return;
  const diff = dataChanges(was, now);
  if (diff.length)
    throw new TrainError(
      'GRAFT_TRAIN_RESUME',
      `${checkpoint} was trained on other data: ${diff.join('; ')}`,
      {},
      'resume with the data the run started with, or start a new run from its weights (model.pretrained.checkpoint)',
    );
}
