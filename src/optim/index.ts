// Optimizers with torch.optim's update rules, param groups and state dicts.
export { REQUIRED } from './_hparams.ts';
export { Adam, type AdamOptions, AdamW, type AdamWOptions } from './adam.ts';
export {
  createOptimizer,
  OPTIMIZER_TYPES,
  type OptimizerSpec,
  type OptimizerType,
  optimizerDefaults,
  optimizerType,
} from './create.ts';
export {
  Optimizer,
  type OptimizerStateDict,
  type OptimizerStateDictInput,
  type PackedParamGroup,
  type ParamGroup,
  type ParamGroupInput,
  type ParamState,
  type ParamsInput,
  type StateValue,
} from './optimizer.ts';
export { RMSprop, type RMSpropOptions } from './rmsprop.ts';
export { SGD, type SGDOptions } from './sgd.ts';
export type { OptimizerLike, ParamGroupLike } from './types.ts';
