// Distributed training on PyTorch's c10d: process groups, collectives, data parallelism.
export { DataParallel, type DataParallelOptions } from './data_parallel.ts';
export { type DistEnv, envFromProcess } from './env.ts';
// data-parallel training on these: the trainer's callback, fit on every rank, rank loaders, the launcher
export { type DistributedFitOptions, fitDistributed, rankFitOptions } from './fit.ts';
export { freePort, LaunchError, type LaunchOptions, launch, launcherArgs, parseMaster, workerEnv } from './launch.ts';
export { allreduceNumbers, broadcastNumbers, type Collectives, reduceMeter } from './metrics.ts';
export {
  asDistError,
  availableBackends,
  type Backend,
  type InitProcessGroupOptions,
  initProcessGroup,
  ProcessGroup,
  type ReduceOp,
} from './process_group.ts';
export { type RankLoaders, rankLoaders, StridedSampler } from './sampler_glue.ts';
export { convertSyncBatchNorm, SyncBatchNorm, syncBatchNorms } from './sync_batchnorm.ts';
export {
  DataParallelCallback,
  type DataParallelCallbackOptions,
  type DataParallelLike,
  distributedSource,
  type SamplePosition,
} from './train.ts';
