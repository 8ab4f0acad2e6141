// `graft train RECIPE`: trains a recipe into its run folder, with progress; `--resume RUN_DIR`
// continues a stopped run exactly where its last checkpoint left it.
import { relative } from 'node:path';
import { runRecipe } from '../recipe/index.ts';
import { signalExitCode, stopSignal } from '../train/index.ts';
import { parse, runCommand, SET_HELP, UsageError } from './_args.ts';
import { isRunDir, loadFor, loadRunRecipe } from './_recipe.ts';
import type { Command } from './main.ts';

const USAGE = `usage: graft train RECIPE [--set KEY=VALUE ...] [--out DIR] [--overwrite] [--quiet] [--json]
       graft train --resume RUN_DIR [--set KEY=VALUE ...]

Trains the model a YAML recipe describes (see docs/recipes.md) and writes the run folder:
recipe.yaml, metrics.jsonl, checkpoints/{last,best}.pth, report.html, model.safetensors and
config.json. Progress goes to stderr: a bar on a terminal, plain lines otherwise.

${SET_HELP}
  --out DIR          the run folder (default: the recipe's output.dir, else runs/<name>); a
                     folder that already holds a run is refused unless --resume or --overwrite
  --overwrite        replace the run in the run folder (its files go once the new run starts)
  --resume RUN_DIR   continue RUN_DIR from checkpoints/last.pth: the same model, optimizer,
                     scheduler, phase, epoch, step and data order (same recipe and seed); without
                     RECIPE the run's own recipe (recipe.yaml, else the checkpoint's copy) is used.
                     Only some fields may change on resume (the last phase's epochs, logging,
                     checkpoint cadence, threads, ...; docs/reliability.md); others are refused
  --quiet            no progress output
  --json             print the result (metrics, best epoch, files) as JSON

Ctrl-C (SIGINT), SIGTERM and SIGHUP stop at the next step and write a checkpoint; resume with
--resume RUN_DIR. A second Ctrl-C quits at once (the checkpoints on disk stay whole). One run at a
time per run folder: a second train or resume into a running one is refused.

Exit codes: 0 trained (or stopped early by early stopping), 1 bad recipe, data or checkpoint, a
failed run (a NaN loss names the step and the last good checkpoint) or a run folder in use, 2 usage,
130 interrupted by SIGINT, 143 by SIGTERM or SIGHUP.

example: graft train recipes/003_head_then_all.yaml --set optimizer.lr=0.0005 --set phases[1].epochs=3`;

const OPTIONS = {
  set: { type: 'string', multiple: true },
  out: { type: 'string' },
  resume: { type: 'string' },
  overwrite: { type: 'boolean' },
  quiet: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

const rel = (p: string | undefined) => {
  if (!p) return '-';
  const r = relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
};

export const train: Command = {
  name: 'train',
  summary: 'train a YAML recipe into a run folder (--resume RUN_DIR continues one)',
  usage: USAGE,
  run(args) {
    return runCommand('train', USAGE, async () => {
      const { values: v, positionals } = parse(args, OPTIONS);
      if (positionals.length > 1) throw new UsageError(`give one RECIPE, got ${positionals.length} arguments`);
      if (!positionals.length && !v.resume) throw new UsageError('missing RECIPE');
      if (v.resume && !isRunDir(v.resume) && !v.resume.endsWith('.pth'))
        throw new UsageError(
          `--resume needs a run folder (with recipe.yaml or checkpoints/last.pth) or a .pth checkpoint, got '${v.resume}'`,
        );
      if (v.resume && v.overwrite) throw new UsageError('--resume and --overwrite exclude each other');
      const loaded = positionals[0] ? loadFor(positionals[0], v.set ?? []) : loadRunRecipe(v.resume!, v.set ?? []);
      const outDir = v.out ?? (v.resume && isRunDir(v.resume) ? v.resume : undefined);
      const result = await runRecipe(loaded, {
        outDir,
        resume: v.resume,
        overwrite: v.overwrite ?? false,
        progress: v.quiet ? false : {},
        handleSignals: true,
        log: (line, level) => {
          if (level === 'warn' || (!v.quiet && !v.json)) console.error(line);
        },
      });
      const best = result.best;
      if (v.json)
        console.log(
          JSON.stringify(
            {
              run: result.name,
              outDir: result.outDir,
              epochs: result.epochsRun,
              steps: result.steps,
              metrics: result.metrics,
              best: best ?? null,
              stopReason: result.stopReason ?? null,
              files: result.files,
            },
            null,
            1,
          ),
        );
      else {
        const m = result.metrics;
        const acc = m['eval.accuracy'] ?? m['train.accuracy'];
        console.log(
          `trained ${result.name}: ${result.epochsRun} epochs, ${result.steps} steps` +
            (acc !== undefined ? `, accuracy ${(acc * 100).toFixed(2)}%` : '') +
            (best ? `; best ${best.metric} ${best.value.toFixed(4)} at epoch ${best.epoch + 1}` : ''),
        );
        if (result.stopReason) console.log(`stopped: ${result.stopReason}`);
        console.log(`run folder  ${rel(result.outDir)}`);
        for (const [k, f] of Object.entries(result.files)) if (f) console.log(`  ${k.padEnd(14)} ${rel(f)}`);
      }
      const sig = stopSignal(result.stopReason);
      if (sig) {
        console.error(`graft train: interrupted (${sig}); continue with: graft train --resume ${rel(result.outDir)}`);
        return signalExitCode(sig);
      }
      return 0;
    });
  },
};
