// Resuming a run that compresses: a checkpoint taken inside or after a prune phase holds each pruned
// weight as weight_orig + weight_mask (PyTorch's layout), one taken from the QAT phase on holds the
// QAT form. The model gets the same layout before the checkpoint loads into it; the rounds done and
// the sparsity reached come back with the prune callback's own state.
import { RecipeError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import * as prune from '../prune/index.ts';
import { readCheckpoint } from '../train/index.ts';
import { prunePhases } from './compress.ts';
import { qatPlan, resumeQatForm } from './compress_qat.ts';
import type { Recipe } from './schema.ts';

/** The model state dict keys a checkpoint holds, and whether it has the prune callback's state. */
function readForm(checkpoint: string): { keys: string[]; pruneState: boolean } {
  const { tree } = readCheckpoint(checkpoint);
  const m = tree.model as unknown;
  const keys = m instanceof Map ? [...m.keys()].map(String) : m && typeof m === 'object' ? Object.keys(m) : [];
  return { keys, pruneState: tree.callbacks?.prune !== undefined };
}

/** Gives `trained` (the module the run trains) the layout of the checkpoint's model before it loads. */
export function prepareCompressResume(r: Recipe, trained: Module, checkpoint: string): void {
  const plan = qatPlan(r);
  const phases = prunePhases(r);
  if (!plan && !phases.length) return;
  const { keys, pruneState } = readForm(checkpoint);
  resumeQatForm(trained, plan, keys, checkpoint);
  const pruned = new Set(keys.filter((k) => k.endsWith('_orig')).map((k) => k.slice(0, -'_orig'.length)));
  if (!pruned.size) return;
  if (!phases.length)
    throw new RecipeError(
      'phases',
      `${checkpoint} holds pruning masks, but the recipe has no prune phase`,
      'resume with the recipe the run started with',
    );
  if (!pruneState)
    throw new RecipeError(
      'phases',
      `${checkpoint} holds pruning masks but not the pruning rounds done (an older graft wrote it)`,
      'start a new run from its weights: --set model.pretrained.checkpoint=CHECKPOINT',
    );
  for (const [path, m] of trained.namedModules())
    for (const [n] of [...m.namedParameters({ recurse: false })]) {
      const full = path ? `${path}.${n}` : n;
      // the reparametrization only: weight_orig and weight_mask get their values from the checkpoint
      if (pruned.delete(full)) prune.identity(m, n);
    }
  if (pruned.size)
    throw new RecipeError(
      'phases',
      `${checkpoint} holds pruning masks for ${[...pruned].slice(0, 3).join(', ')}, which the model does not have`,
      'resume with the recipe the run started with',
    );
}
