// `graft train RECIPE`: trains a recipe into its run folder, with progress; `--resume RUN_DIR`
// continues a stopped run exactly where its last checkpoint left it.
// Its usage text lives in commands.ts: main.ts imports this module (and libtorch) only to run it.
import { relative } from 'node:path';
import { exitWithLauncher, launch, launcherArgs } from '../dist/launch.ts';
import { runRecipe } from '../recipe/index.ts';
import { signalExitCode, stopSignal } from '../train/index.ts';
import { intFlag, parse, runCommand, UsageError } from './_args.ts';
import { isRunDir, loadFor, loadRunRecipe } from './_recipe.ts';
import { TRAIN_USAGE as USAGE } from './commands.ts';

const OPTIONS = {
  set: { type: 'string', multiple: true },
  out: { type: 'string' },
  resume: { type: 'string' },
  overwrite: { type: 'boolean' },
  quiet: { type: 'boolean' },
  json: { type: 'boolean' },
  nproc: { type: 'string' },
  nnodes: { type: 'string' },
  'node-rank': { type: 'string' },
  master: { type: 'string' },
  'dist-timeout': { type: 'string' },
} as const;

const rel = (p: string | undefined) => {
  if (!p) return '-';
  const r = relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
};

export function run(args: string[]): Promise<number> {
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
    const distTimeout = intFlag(v['dist-timeout'], '--dist-timeout');
    if (v.nproc !== undefined || v.nnodes !== undefined || v['node-rank'] !== undefined || v.master !== undefined) {
      // the launcher: the recipe is checked once here, then each worker runs this command without these flags
      if (v.nproc === undefined) throw new UsageError('--nnodes, --node-rank and --master go with --nproc N');
      if (process.env.RANK !== undefined && process.env.WORLD_SIZE !== undefined)
        throw new UsageError(
          '--nproc inside a worker: RANK and WORLD_SIZE are set already (started by torchrun or srun?)',
        );
      return launch({
        nproc: intFlag(v.nproc, '--nproc')!,
        nnodes: intFlag(v.nnodes, '--nnodes'),
        nodeRank: intFlag(v['node-rank'], '--node-rank', 0),
        master: v.master,
        args: ['train', ...launcherArgs(args)],
        plainStdout: v.json,
      });
    }
    const outDir = v.out ?? (v.resume && isRunDir(v.resume) ? v.resume : undefined);
    exitWithLauncher();
    const result = await runRecipe(loaded, {
      outDir,
      resume: v.resume,
      overwrite: v.overwrite ?? false,
      progress: v.quiet ? false : {},
      handleSignals: true,
      ...(distTimeout !== undefined ? { distTimeoutMs: distTimeout * 1000 } : {}),
      log: (line, level) => {
        if (level === 'warn' || (!v.quiet && !v.json)) console.error(line);
      },
    });
    const best = result.best;
    const sig = stopSignal(result.stopReason);
    // the other ranks of a data-parallel run: rank 0 prints the result (they have no run folder)
    if (result.outDir === undefined) return sig ? signalExitCode(sig) : 0;
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
    if (sig) {
      console.error(`graft train: interrupted (${sig}); continue with: graft train --resume ${rel(result.outDir)}`);
      return signalExitCode(sig);
    }
    return 0;
  });
}
