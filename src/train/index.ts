// The training loop and what surrounds it: events and callbacks, metrics, clipping, AMP's grad
// scaler, atomic checkpoints with exact resume, metrics.jsonl, progress, report and model export.
export { CheckpointCallback, type CheckpointOptions } from './callbacks/checkpoint.ts';
export { type ClipOptions, GradientClip } from './callbacks/clip.ts';
export { EarlyStopping, type EarlyStoppingOptions } from './callbacks/early_stop.ts';
export { MetricsLogger, type MetricsLoggerOptions } from './callbacks/log.ts';
export { ExportCallback, type ExportOptions, ReportCallback } from './callbacks/output.ts';
export { formatDuration, Progress, type ProgressOptions, type ProgressStream } from './callbacks/progress.ts';
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointWriter,
  copyCheckpoint,
  defaultWriter,
  fromPy,
  type LoadedCheckpoint,
  readCheckpoint,
  removeStaleTemps,
  resolveResume,
  stateDictTensors,
  toPy,
  writeCheckpoint,
} from './checkpoint.ts';
export { type ClipNormOptions, clipGradNorm_, clipGradValue_ } from './clip.ts';
export { TrainError, type TrainErrorInfo } from './errors.ts';
export { type Callback, EVENTS, type EventName, SYNC_EVENTS } from './events.ts';
export {
  type ExportInfo,
  type LoadModelOptions,
  loadModel,
  MODEL_CONFIG,
  MODEL_FORMAT,
  MODEL_WEIGHTS,
  type ModelConfig,
  modelConfig,
  type Preprocessing,
  readModelConfig,
  saveModel,
} from './export.ts';
export { buildTrainer, type FitOptions, type FitResult, fit } from './fit.ts';
export { Meter } from './meter.ts';
export {
  accuracy,
  type ClassificationMetrics,
  type Counts,
  computeMetrics,
  countsFromMatrix,
  emptyCounts,
  macroF1,
  mergeCounts,
  perClassAccuracy,
} from './metrics.ts';
export {
  type AmpSetting,
  type ForwardFn,
  flattenMetrics,
  type LossFn,
  logitsOf,
  type MonitorSpec,
  resolveMonitor,
  type TrainerOptions,
} from './options.ts';
export { checkpointTree, restoreFrom } from './resume.ts';
export {
  type MetricMap,
  OptimizerRunner,
  type OptimizerRunnerOptions,
  type PhaseRunnerLike,
  phaseName,
  pickMetric,
  type RunnerNoteLike,
  withAliases,
} from './runner.ts';
export { GradScaler, type GradScalerOptions } from './scaler.ts';
export {
  type Batch,
  type BatchInput,
  type BatchSource,
  batchItems,
  disposeBatch,
  type EpochIterable,
  type SetEpochIterable,
  type TensorDataOptions,
  tensorData,
  toBatch,
  toSource,
} from './source.ts';
export { Trainer } from './trainer.ts';
