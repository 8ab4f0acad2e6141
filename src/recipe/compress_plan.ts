// What `graft plan` says about compression: each prune phase's rounds, where QAT starts, what is
// quantized after training.
import { prunePhases } from './compress.ts';
import { type QatPlan, qatPlanLines, quantizeSection } from './compress_qat.ts';
import type { Recipe } from './schema.ts';

/** The plan's compression lines (graft plan): each prune phase's rounds, where QAT starts. */
export function compressPlanLines(r: Recipe, qat: QatPlan | undefined): string[] {
  const prunes = prunePhases(r).map(
    (p) =>
      `pruning: phase ${p.index}${p.name ? ` '${p.name}'` : ''} (epochs ${p.start}-${p.start + p.epochs - 1}), ` +
      `${p.rounds} round${p.rounds === 1 ? '' : 's'} to ${(p.spec.target * 100).toFixed(1)}% sparsity (${p.spec.method ?? 'l1'})`,
  );
  const q = quantizeSection(r, qat);
  const after = q && q.mode !== 'qat' ? [`after training: ${q.mode} int8 quantization (model.int8.safetensors)`] : [];
  return [...prunes, ...qatPlanLines(qat), ...after];
}
