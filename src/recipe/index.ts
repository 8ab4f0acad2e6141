// YAML recipes: the schema, loading (extends, overrides), and a recipe mapped onto data, model,
// phase runner and trainer; plan, eval and predict for the CLI.
export { fmtPath } from './_issues.ts';
export { bareMessage, checkRecipe } from './check.ts';
export { compressCallbacks, prunePhases, pruneTargets } from './compress.ts';
export { type CompareOptions, type CompareResult, compareQuantized, formatCompare, loadInt8 } from './compress_eval.ts';
export { type QatPlan, qatPlan } from './compress_qat.ts';
export { type BuiltData, buildData, type DataOptions, type Split } from './data.ts';
export { type FieldRow, recipeFields, recipeReference } from './docs.ts';
export {
  type EvalOptions,
  type EvalResult,
  evaluateModel,
  evaluateRecipe,
  evaluateRun,
  formatEval,
} from './evaluate.ts';
export { buildLayer, LAYER_TYPES, type LayerDesc, parseLayer } from './layers.ts';
export {
  applyOverride,
  type LoadedRecipe,
  type LoadOptions,
  loadRecipe,
  mergeRecipes,
  parseKeyPath,
  recipeFrom,
  recipeToYaml,
  validateRecipe,
} from './load.ts';
export { type LogCallbackOptions, logCallbacks, recipeHparams } from './log.ts';
export {
  type BuiltModel,
  buildModel,
  createModel,
  fetchPretrained,
  pretrainedSource,
  type RebuildInfo,
  rebuildFromConfig,
  toSelector,
  weightsRefOf,
} from './model.ts';
export { planRecipe, type RecipePlan, type RecipePlanOptions } from './plan.ts';
export { formatPredictions, imagePipeline, type Prediction, type PredictOptions, predict } from './predict.ts';
export {
  changedFields,
  checkResumeChanges,
  checkSameData,
  type DataFingerprint,
  dataChanges,
  dataFingerprint,
  RESUMABLE_FIELDS,
  type SplitFingerprint,
} from './resume.ts';
export {
  type BuildOptions,
  buildRun,
  type RunOptions,
  type RunPieces,
  type RunProgress,
  runFolder,
  runRecipe,
  toRunSpec,
} from './run.ts';
export { loadSummary, type RunRecord, readRunRecord, recordedRecipe } from './run_record.ts';
export {
  type Recipe,
  type RecipeData,
  type RecipeModel,
  type RecipePhase,
  RecipeSchema,
  type RecipeTrain,
} from './schema.ts';
export { defaultTransforms, parseTransform, parseTransforms, TRANSFORM_NAMES } from './transforms.ts';
