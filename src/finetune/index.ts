// Fine-tuning building blocks: selectors, freezing (with BatchNorm policies), parameter groups,
// discriminative / layer-decayed learning rates, phases with optimizer switches, built-in recipes
// and the plan report.
export {
  checkLength,
  type LrChange,
  type LrValue,
  type PhaseSchedulerSpec,
  type RampSpec,
  schedulerParts,
} from './_phase_parts.ts';
export {
  CACHE_MODES,
  type CacheMode,
  type CacheSplit,
  type CacheStatus,
  dataProblem,
  FeatureCache,
  type FeatureCacheOptions,
} from './feature_cache.ts';
export { type Cut, type CutView, findCut, randomTransforms } from './feature_cache_cut.ts';
export {
  type CachePlanOptions,
  type CachePlanPhase,
  type CachePlanSplit,
  cachePlanText,
  type PhaseFreeze,
  planFeatureCache,
} from './feature_cache_plan.ts';
export { featureStages, runStages, type Stage, type StagedModel } from './feature_cache_stages.ts';
export {
  applyFreeze,
  BN_POLICIES,
  type BnPolicy,
  type FreezeInput,
  type FreezeOptions,
  Freezer,
  type FreezeSpec,
  type FreezeState,
  type FreezeVia,
  freeze,
  freezerOf,
  freezeTo,
  freezeToSelector,
  requiresGradTable,
  resolveFreeze,
  unfreeze,
} from './freeze.ts';
export {
  type GroupDescription,
  type GroupSpec,
  type GroupsConfig,
  type GroupsOptions,
  groupIndices,
  groupInputs,
  type LayerGroupsOptions,
  type ParamGroups,
  type PlannedGroup,
  paramGroups,
} from './groups.ts';
export {
  adapterParamNames,
  applyLora,
  describeLora,
  finishLora,
  type LoraInfo,
  type LoraOptions,
  loraInfoOf,
  loraLayers,
  mergeLora,
  rememberLora,
  setLoraEnabled,
  unloadLora,
  unmergeLora,
} from './lora.ts';
export {
  adapterStateDict,
  fromPeftKey,
  type LoadAdapterOptions,
  loadAdapter,
  loraOptionsFromConfig,
  saveAdapter,
  toPeftKey,
} from './lora_io.ts';
export {
  ALL_LINEAR,
  DEFAULT_TARGET_MODULES,
  fullMatch,
  isModuleToSave,
  isTargetModule,
  type MatchRules,
  patternKey,
  type TargetModules,
  targetModulesJSON,
} from './lora_match.ts';
export { evenMults, fmtLr, layerDecayScales, lrSlice } from './lr.ts';
export { type LrChartOptions, lrFindChart } from './lr_find_chart.ts';
export {
  checkSweep,
  diverged,
  LR_SUGGESTIONS,
  type LrSuggestion,
  type LrSuggestionMethod,
  lightning,
  minimum,
  SmoothLoss,
  slide,
  steep,
  suggestionWindow,
  suggestLrs,
  sweepLr,
  valley,
} from './lr_find_math.ts';
export { enterPhase } from './lr_find_phase.ts';
export { PhaseRunner, type PhaseSpec, type RunnerNote, type RunnerOptions, type RunSpec } from './phases.ts';
export { type PlanJSON, type PlanModuleRow, type PlanOptions, type PlanPhase, plan } from './plan.ts';
export {
  type BackboneFinetuningOptions,
  backboneFinetuning,
  type FineTuneOptions,
  fineTune,
  type GradualUnfreezingOptions,
  gradualUnfreezing,
  type KerasTwoPhaseOptions,
  kerasTwoPhase,
} from './recipes.ts';
export {
  describeSelector,
  globToRegExp,
  type LoadReportLike,
  ParamIndex,
  type SelectContext,
  type Selector,
} from './select.ts';
export {
  type AnyOptimizer,
  buildOptimizer,
  DryOptimizer,
  type PhaseOptimizerSpec,
  SCHEDULER_GROUP_KEYS,
  type StateCarry,
  type SwitchNote,
  switchOptimizer,
} from './switch.ts';
export { checkSomethingTrains } from './trains.ts';
