// graft's prune: torch.nn.utils.prune's methods, masks and state-dict layout, plus a sparsity report.
export type { Amount } from './amount.ts';
export { isPruned, pruningOf, recompute, remove } from './apply.ts';
export {
  CustomFromMask,
  Identity,
  L1Unstructured,
  LnStructured,
  PruningContainer,
  type PruningMethod,
  type PruningType,
  RandomStructured,
  RandomUnstructured,
} from './methods.ts';
export {
  customFromMask,
  type GlobalOptions,
  globalUnstructured,
  identity,
  l1Unstructured,
  lnStructured,
  randomStructured,
  randomUnstructured,
  type ScoreOptions,
} from './prune.ts';
export {
  lnShrink,
  type Shrinkable,
  type ShrinkOptions,
  type ShrinkPlan,
  type ShrinkReport,
  shrinkable,
  shrinkConv,
  shrinkPruned,
  shrinkToWidths,
  shrinkZeroed,
} from './shrink.ts';
export { type LayerSparsity, type SparsityOptions, type SparsityReport, sparsity } from './sparsity.ts';
