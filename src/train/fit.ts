// fit(): a Trainer with the standard callbacks for a run folder:
//   OUT/metrics.jsonl, OUT/checkpoints/{last,best}.pth, OUT/report.html, OUT/model.safetensors + config.json
import { join } from 'node:path';
import { ArgumentError } from '../errors.ts';
import * as models from '../models/index.ts';
import type { RunInfo } from '../report/index.ts';
import { CheckpointCallback, type CheckpointOptions } from './callbacks/checkpoint.ts';
import { type ClipOptions, GradientClip } from './callbacks/clip.ts';
import { EarlyStopping, type EarlyStoppingOptions } from './callbacks/early_stop.ts';
import { MetricsLogger } from './callbacks/log.ts';
import { ExportCallback, type ExportOptions, ReportCallback } from './callbacks/output.ts';
import { Progress, type ProgressOptions } from './callbacks/progress.ts';
import { resolveResume } from './checkpoint.ts';
import type { Callback } from './events.ts';
import type { TrainerOptions } from './options.ts';
import type { MetricMap } from './runner.ts';
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
  /** SIGINT / SIGTERM ask the run to stop at the next step (a checkpoint is written); default false */
  handleSignals?: boolean;
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
      cbs.push(new ReportCallback(files.report, files.metrics, { classNames: o.classNames }));
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
  const { trainer, files, exporter } = buildTrainer(o);
  const resume =
    o.resume === true ? resolveResume(join(o.outDir!, 'checkpoints')) : o.resume ? resolveResume(o.resume) : undefined;
  const stop = () => trainer.requestStop('interrupted (signal)');
  if (o.handleSignals) {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
  try {
    await trainer.fit(o.epochs, { resume });
  } finally {
    if (o.handleSignals) {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  }
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
