// Learning-rate schedulers with torch.optim.lr_scheduler's semantics (torch 1.13) and state dicts.

export { cos as pyCos, log as pyLog, logBase as pyLogBase, mod as pyMod, pow as pyPow } from '../util/pymath.ts';
export {
  type BaseOptions,
  LRScheduler,
  type Scheduler,
  type SchedulerStateDict,
  type StepScheduler,
} from './_base.ts';
export {
  ConstantLR,
  type ConstantLRSchedulerOptions,
  ExponentialLR,
  type ExponentialLRSchedulerOptions,
  LinearLR,
  type LinearLRSchedulerOptions,
  MultiStepLR,
  type MultiStepLRSchedulerOptions,
  PolynomialLR,
  type PolynomialLRSchedulerOptions,
  StepLR,
  type StepLRSchedulerOptions,
} from './basic.ts';
export { ChainedScheduler, SequentialLR, type SequentialLROptions } from './compose.ts';
export {
  CosineAnnealingLR,
  type CosineAnnealingLRSchedulerOptions,
  CosineAnnealingWarmRestarts,
  type CosineAnnealingWarmRestartsSchedulerOptions,
} from './cosine.ts';
export {
  type AnyScheduler,
  camelAlias,
  createScheduler,
  planSchedule,
  SCHEDULER_TYPES,
  type SchedulerSpec,
} from './factory.ts';
export * from './functional.ts';
export * from './hf.ts';
export { LambdaLR, type LambdaLRSchedulerOptions, type LrLambda, MultiplicativeLR } from './lambda.ts';
export { OneCycleLR, type OneCycleLRSchedulerOptions } from './onecycle.ts';
export {
  type Metric,
  type PlateauMode,
  ReduceLROnPlateau,
  type ReduceLROnPlateauOptions,
  type ThresholdMode,
} from './plateau.ts';
