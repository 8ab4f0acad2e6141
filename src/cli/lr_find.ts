// `graft lr-find RECIPE`: the LR range test on a recipe's model and training data, per phase (the
// phase's freeze and optimizer, the groups' lr ratios as the recipe gives them), with a chart in
// the terminal and lr_find.json + lr_find.html in the run folder. Nothing else is written: the
// weights are put back after each phase's sweep.
// Its usage text lives in commands.ts: main.ts imports this module (and libtorch) only to run it.
import { relative } from 'node:path';
import { fmtLr, LR_SUGGESTIONS, type LrSuggestionMethod, lrFindChart } from '../finetune/index.ts';
import type { Module } from '../nn/index.ts';
import { buildRun, fetchPretrained, runFolder } from '../recipe/index.ts';
import {
  type FitOptions,
  GradientClip,
  type LrFindResult,
  lrFind,
  readCheckpoint,
  resolveResume,
  stateDictTensors,
  writeLrFind,
} from '../train/index.ts';
import { intFlag, parse, runCommand, UsageError } from './_args.ts';
import { loadFor } from './_recipe.ts';
import { LR_FIND_USAGE as USAGE } from './commands.ts';

const OPTIONS = {
  set: { type: 'string', multiple: true },
  phase: { type: 'string' },
  start: { type: 'string' },
  end: { type: 'string' },
  steps: { type: 'string' },
  suggest: { type: 'string' },
  'no-stop-div': { type: 'boolean' },
  'same-lr': { type: 'boolean' },
  out: { type: 'string' },
  from: { type: 'string' },
  ascii: { type: 'boolean' },
  width: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

function lrFlag(v: string | undefined, flag: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!(v.trim() !== '' && Number.isFinite(n) && n > 0)) throw new UsageError(`${flag} needs a number > 0, got '${v}'`);
  return n;
}

function methodsFlag(v: string | undefined): LrSuggestionMethod[] {
  if (v === undefined) return ['valley'];
  const out = v.split(',').map((s) => s.trim());
  for (const m of out)
    if (!(LR_SUGGESTIONS as readonly string[]).includes(m))
      throw new UsageError(`--suggest: unknown method '${m}' (use ${LR_SUGGESTIONS.join(', ')})`);
  return out as LrSuggestionMethod[];
}

const rel = (p: string) => {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') ? r : p;
};

/** What one phase's sweep says, under its chart. */
function summary(r: LrFindResult): string[] {
  const lines: string[] = [];
  const s = r.suggestions[0];
  if (!s) return [`  no suggestion: ${r.problems.join('; ')}`];
  const times = r.runLr > 0 ? ` (${+(s.lr / r.runLr).toPrecision(3)} x the recipe's ${fmtLr(r.runLr)})` : '';
  lines.push(`  suggested lr ${fmtLr(s.lr)} for ${r.reference}${times}`);
  if (r.groups.length > 1)
    lines.push(`  groups at that lr: ${r.groups.map((g) => `${g.name} ${fmtLr(s.groupLrs[g.name]!)}`).join(', ')}`);
  for (const x of r.suggestions.slice(1)) lines.push(`  ${x.method}: ${fmtLr(x.lr)}`);
  return lines;
}

/** The trainer settings of the recipe's run: the sweep trains as the run would. */
function runOptions(f: FitOptions) {
  const { loss, forward, seed, device, amp, accumulate, topK, task } = f;
  return { loss, forward, seed, device, amp, accumulate, topK, task };
}

/** Loads a training checkpoint's model weights (a .pth, or a run folder's checkpoints/last.pth). */
function loadFrom(model: Module, file: string): void {
  const sd = stateDictTensors(readCheckpoint(file).raw.get('model'), file);
  try {
    model.loadStateDict(sd);
  } finally {
    for (const t of sd.values()) t.dispose();
  }
}

export function run(args: string[]): Promise<number> {
  return runCommand('lr-find', USAGE, async () => {
    const { values: v, positionals } = parse(args, OPTIONS);
    if (positionals.length !== 1) throw new UsageError(positionals.length ? 'give one RECIPE' : 'missing RECIPE');
    const startLr = lrFlag(v.start, '--start', 1e-7);
    const endLr = lrFlag(v.end, '--end', 10);
    if (endLr <= startLr) throw new UsageError(`--end (${endLr}) must be above --start (${startLr})`);
    const numIt = intFlag(v.steps, '--steps') ?? 100;
    const suggest = methodsFlag(v.suggest);
    const width = intFlag(v.width, '--width', 16) ?? 64;
    const only = intFlag(v.phase, '--phase', 0);
    const loaded = loadFor(positionals[0]!, v.set ?? []);
    const count = loaded.recipe.phases.length;
    if (only !== undefined && only >= count)
      throw new UsageError(
        `--phase ${only}: the recipe has ${count} phase${count === 1 ? '' : 's'} (0 to ${count - 1})`,
      );
    // a checkpoint that is not there fails before the data and model are built
    const from = v.from ? resolveResume(v.from) : undefined;
    const outDir = v.out ?? runFolder(loaded);
    await fetchPretrained(loaded.recipe.model); // weights named by source (torchvision:..., hf:...)
    const p = buildRun(loaded, { outDir });
    const results: LrFindResult[] = [];
    try {
      if (from) {
        loadFrom(p.model, from);
        if (!v.json) console.log(`weights from ${rel(from)}\n`);
      }
      const phases = only !== undefined ? [only] : [...Array(count).keys()];
      for (const phase of phases) {
        const name = loaded.recipe.phases[phase]!.name;
        const label = `phase ${phase}${name ? ` '${name}'` : ''}`;
        const r = await lrFind({
          ...runOptions(p.fit),
          model: p.model,
          train: p.train,
          spec: p.spec,
          phase,
          startLr,
          endLr,
          numIt,
          suggest,
          stopDiv: !v['no-stop-div'],
          sameLr: v['same-lr'] ?? false,
          ...(p.loadReport ? { loadReport: p.loadReport } : {}),
          // the run's gradient clipping applies to the sweep too (its other callbacks write files)
          callbacks: p.fit.clip ? [new GradientClip(p.fit.clip)] : [],
          onStep: v.quiet
            ? undefined
            : (s) => {
                if ((s.index + 1) % 25 === 0 || s.index === 0)
                  console.error(
                    `${label}: step ${s.index + 1}/${s.numIt}, lr ${fmtLr(s.lr)}, loss ${s.smoothed.toFixed(4)}`,
                  );
              },
        });
        results.push(r);
        if (v.json) continue;
        const ph = r.phase!;
        console.log(
          `${label}: ${ph.trainable} parameter tensors train, ${ph.frozen} frozen (${ph.optimizer}); ` +
            `${r.steps.length} of ${r.numIt} steps, ${r.stopReason}`,
        );
        console.log(
          lrFindChart(
            r.steps.map((s) => s.lr),
            r.steps.map((s) => s.smoothed),
            r.suggestions[0],
            { width, ascii: v.ascii },
          ),
        );
        for (const line of summary(r)) console.log(line);
        console.log('');
      }
    } finally {
      await p.dispose();
    }
    const files = await writeLrFind(outDir, results, { recipe: loaded.name });
    if (v.json)
      console.log(
        JSON.stringify(
          { recipe: loaded.name, sweeps: results, files },
          (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x),
          1,
        ),
      );
    else console.log(`wrote ${rel(files.json)} and ${rel(files.html)}`);
    return 0;
  });
}
