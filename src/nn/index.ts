// graft's nn: Module, containers, layers and initialisers with torch.nn's names and semantics.
export { type SizeMismatch, StateDictError } from './_errors.ts';
export * from './containers.ts';
export { type BatchNormLike, foldConvBn, foldConvBnWeights } from './fold.ts';
export * as init from './init.ts';
export * from './layers/index.ts';
export { toMemoryFormatModule } from './memory_format.ts';
export {
  type ForwardHook,
  type ForwardPreHook,
  type LoadResult,
  Module,
  type StateDict,
  type StateDictLike,
  type ToTarget,
} from './module.ts';
export { isParameter, Parameter } from './parameter.ts';
