// The training loop and what surrounds it: events and callbacks, metrics, clipping, AMP's grad
// scaler, atomic checkpoints with exact resume, metrics.jsonl, progress, report and model export.

export { GradientAccumulation } from './callbacks/accumulate.ts';
export { type AmpConfig, MixedPrecision } from './callbacks/amp.ts';
export { CheckpointCallback, type CheckpointOptions, type CheckpointRecord } from './callbacks/checkpoint.ts';
export { type ClipOptions, GradientClip } from './callbacks/clip.ts';
export { EarlyStopping, type EarlyStoppingOptions } from './callbacks/early_stop.ts';
export { MetricsLogger, type MetricsLoggerOptions } from './callbacks/log.ts';
export { checkpointLoss, NanStop } from './callbacks/nan.ts';
export { ExportCallback, type ExportOptions, ReportCallback } from './callbacks/output.ts';
export { formatDuration, Progress, type ProgressOptions, type ProgressStream } from './callbacks/progress.ts';
export {
  type CausalLMStepOptions,
  causalLMForward,
  causalLMLossFn,
  causalLMTokenLoss,
  fp32Head,
  hasDecoderParts,
} from './causal_lm.ts';
export { type DecoderInputs, type DecoderRun, decoderRun, registerDecoderParts } from './causal_lm_parts.ts';
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
  sameBytes,
  stateDictTensors,
  toPy,
  writeCheckpoint,
} from './checkpoint.ts';
export { type ClipNormOptions, clipGradNorm_, clipGradValue_ } from './clip.ts';
export { TrainError, type TrainErrorInfo } from './errors.ts';
export {
  type EvalLoopOptions,
  type EvalStep,
  type EvaluateOptions,
  evaluate,
  forEachOutput,
  yieldToEventLoop,
} from './evaluate.ts';
export {
  CANCELLABLE_EVENTS,
  type Callback,
  CancelBatchException,
  EVENTS,
  type EventName,
  SYNC_EVENTS,
} from './events.ts';
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
export { FAULT_POINTS, type FaultPoint, faultHalfWritten, faultPoint } from './faults.ts';
export { buildTrainer, type FitOptions, type FitResult, fit } from './fit.ts';
export {
  type LrFindGroup,
  type LrFindOptions,
  type LrFindResult,
  type LrFindStep,
  lrFind,
} from './lr_find.ts';
export { LR_FIND_HTML, LR_FIND_JSON, lrFindHtml, lrFindSpec, writeLrFind } from './lr_find_html.ts';
export { Meter } from './meter.ts';
export {
  accuracy,
  type ClassificationMetrics,
  type Counts,
  checkMetricName,
  computeMetrics,
  countsFromMatrix,
  emptyCounts,
  LM_METRICS,
  type MetricNameOptions,
  macroF1,
  mergeCounts,
  metricNames,
  perClassAccuracy,
  SPLIT_METRICS,
  suggestMetricName,
  type Task,
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
  acquireRunLock,
  assertUnlocked,
  checkRunFolder,
  clearRunFiles,
  EVENT_FILE_PREFIX,
  hasRun,
  LOCK_FILE,
  lockIsLive,
  RUN_FILES,
  RunLock,
  type RunLockInfo,
} from './run_lock.ts';
export {
  type MetricMap,
  OptimizerRunner,
  type OptimizerRunnerOptions,
  type PhaseRunnerLike,
  phaseName,
  type RunnerNoteLike,
} from './runner.ts';
export { GradScaler, type GradScalerOptions } from './scaler.ts';
export {
  handleStopSignals,
  type SignalStop,
  STOP_SIGNALS,
  type StopSignal,
  signalExitCode,
  stopSignal,
} from './signals.ts';
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
