// fit(): a Trainer with the standard callbacks for a run folder:
//   OUT/metrics.jsonl, OUT/checkpoints/{last,best}.pth, OUT/report.html, OUT/model.safetensors + config.json
import { join } from 'node:path';
import { ArgumentError } from '../errors.ts';
import type { LoadReport } from '../io/index.ts';
import * as models from '../models/index.ts';
import type { RunInfo } from '../report/index.ts';
import { CheckpointCallback, type CheckpointOptions } from './callbacks/checkpoint.ts';
import { type ClipOptions, GradientClip } from './callbacks/clip.ts';
import { EarlyStopping, type EarlyStoppingOptions } from './callbacks/early_stop.ts';
import { MetricsLogger } from './callbacks/log.ts';
import { ExportCallback, type ExportOptions, ReportCallback } from './callbacks/output.ts';
import { Progress, type ProgressOptions } from './callbacks/progress.ts';
import { removeStaleTemps, resolveResume } from './checkpoint.ts';
import type { Callback } from './events.ts';
import type { TrainerOptions } from './options.ts';
import { acquireRunLock, checkRunFolder, clearRunFiles } from './run_lock.ts';
import type { MetricMap } from './runner.ts';
import { handleStopSignals } from './signals.ts';
import { Trainer } from './trainer.ts';

export interface FitOptions extends TrainerOptions {
  /** epochs to train (default: the phase runner's total) */
  epochs?: number;
  /** the run folder; without it nothing is written (no checkpoints, logs, report or export) */
  outDir?: string;
  /** a checkpoint file or run folder to continue from; true: outDir's checkpoints/last.pth */
  resume?: string | boolean;
  /** checkpoint settings (default: OUT/checkpoints, last + best every epoch); false: none */
  checkpoint?: false | Partial<CheckpointOptions>;
  earlyStopping?: EarlyStoppingOptions | false;
  clip?: ClipOptions;
  /** optimizer steps per metrics.jsonl step record (default 10) */
  logEvery?: number;
  /** progress output (default on, to stderr); false: silent */
  progress?: boolean | ProgressOptions;
  /** write OUT/report.html (default true) */
  report?: boolean;
  /** export the model at the end (default on when outDir is set); false: no export */
  export?: false | Partial<Omit<ExportOptions, 'dir'>>;
  classNames?: string[];
  /** run description for the log and report (model name, recipe, ...) */
  info?: RunInfo;
  /** the pretrained checkpoint's load report, shown in report.html */
  loadReport?: LoadReport;
  /**
   * SIGINT / SIGTERM / SIGHUP stop the run after the current step with a checkpoint (a second one
   * quits at once); default false
   */
  handleSignals?: boolean;
  /** replace the run already in outDir (without it, or resume, a folder holding a run is refused) */
  overwrite?: boolean;
}

export interface FitResult {
  trainer: Trainer;
  /** the last epoch's metrics ('train.loss', 'eval.accuracy', ...) */
  metrics: MetricMap;
  best: { epoch: number; value: number; metric: string } | undefined;
  epochsRun: number;
  steps: number;
  stopReason: string | undefined;
  outDir: string | undefined;
  files: {
    metrics?: string;
    report?: string;
    lastCheckpoint?: string;
    bestCheckpoint?: string;
    model?: string;
    config?: string;
  };
}

/** Builds the trainer and its callbacks from options (exported for callers that drive fit themselves). */
export function buildTrainer(o: FitOptions): {
  trainer: Trainer;
  files: FitResult['files'];
  exporter?: ExportCallback;
} {
  const cbs: Callback[] = [...(o.callbacks ?? [])];
  const files: FitResult['files'] = {};
  const meta = models.metaOf(o.model);
  if (o.clip) cbs.push(new GradientClip(o.clip));
  if (o.earlyStopping) cbs.push(new EarlyStopping({ monitor: monitorName(o), ...o.earlyStopping }));
  if (o.progress !== false) cbs.push(new Progress(typeof o.progress === 'object' ? o.progress : {}));
  let exporter: ExportCallback | undefined;
  let ckpt: CheckpointCallback | undefined;
  if (o.outDir) {
    const out = o.outDir;
    files.metrics = join(out, 'metrics.jsonl');
    const info: RunInfo = { ...(meta ? { model: meta.name } : {}), ...(o.info ?? {}) };
    if (o.classNames) info.classNames = o.classNames;
    if (o.classNames && info.numClasses === undefined) info.numClasses = o.classNames.length;
    cbs.push(new MetricsLogger({ path: files.metrics, logEvery: o.logEvery, info }));
    if (o.checkpoint !== false) {
      ckpt = new CheckpointCallback({ dir: join(out, 'checkpoints'), ...(o.checkpoint ?? {}) });
      cbs.push(ckpt);
      files.lastCheckpoint = ckpt.lastPath;
      files.bestCheckpoint = ckpt.bestPath;
    }
    if (o.report !== false) {
      files.report = join(out, 'report.html');
      cbs.push(new ReportCallback(files.report, files.metrics, { classNames: o.classNames, loadReport: o.loadReport }));
    }
    if (o.export !== false) {
      exporter = new ExportCallback({
        dir: out,
        classNames: o.classNames,
        bestCheckpoint: ckpt?.bestPath,
        ...(o.export ?? {}),
      });
      cbs.push(exporter);
    }
  } else if (o.resume === true) throw new ArgumentError('resume: true needs outDir');
  const trainer = new Trainer({ ...o, callbacks: cbs });
  return { trainer, files, exporter };
}

function monitorName(o: FitOptions): string {
  const m = o.monitor;
  return typeof m === 'string' ? m : (m?.metric ?? (o.valid !== undefined ? 'eval.loss' : 'train.loss'));
}

/**
 * Trains a model and writes the run folder. With phases:
 *   await fit({ model, runner: new PhaseRunner(model, spec), train, valid, outDir: 'runs/x' })
 * With a plain optimizer: fit({ model, optimizer, scheduler, epochs: 10, train, valid, outDir }).
 */
export async function fit(o: FitOptions): Promise<FitResult> {
  if (o.resume === true && !o.outDir) throw new ArgumentError('resume: true needs outDir');
  const resume =
    o.resume === true ? resolveResume(join(o.outDir!, 'checkpoints')) : o.resume ? resolveResume(o.resume) : undefined;
  // the run folder: one run at a time (the lock), never over another run unless asked; an
  // overwritten run's files go only once the new run has started (beforeFit, after validation)
  const lock = o.outDir ? acquireRunLock(o.outDir) : undefined;
  let signals: ReturnType<typeof handleStopSignals> | undefined;
  try {
    if (o.outDir) checkRunFolder(o.outDir, { resume: resume !== undefined, overwrite: o.overwrite });
    signals = o.handleSignals ? handleStopSignals() : undefined;
    const own: Callback[] = [];
    if (signals) own.push(signals.callback);
    if (o.outDir) {
      // under the lock: temp files in the folder are a killed run's (recipe.yaml, reports)
      const dir = o.outDir;
      const overwrite = o.overwrite;
      own.push({
        order: -2000,
        beforeFit: () => {
          if (overwrite) clearRunFiles(dir);
          removeStaleTemps(dir);
        },
      });
    }
    const { trainer, files, exporter } = buildTrainer({ ...o, callbacks: [...(o.callbacks ?? []), ...own] });
    await trainer.fit(o.epochs, { resume });
    return fitResult(o, trainer, files, exporter);
  } finally {
    signals?.dispose();
    lock?.release();
  }
}

function fitResult(o: FitOptions, trainer: Trainer, files: FitResult['files'], exporter?: ExportCallback): FitResult {
  if (exporter?.written) {
    files.model = exporter.written.weights;
    files.config = exporter.written.config;
  }
  if (trainer.lastCheckpoint) files.lastCheckpoint = trainer.lastCheckpoint;
  return {
    trainer,
    metrics: trainer.metrics,
    best: trainer.best ? { ...trainer.best, metric: trainer.monitor.metric } : undefined,
    epochsRun: trainer.position.epoch,
    steps: trainer.step,
    stopReason: trainer.stopReason,
    outDir: o.outDir,
    files,
  };
}
