// The metric names a recipe watches: train.monitor, train.earlyStopping.monitor and
// ReduceLROnPlateau's monitor. One vocabulary, `<split>.<metric>` exactly as metrics.jsonl writes
// it ('train.loss', 'eval.accuracy', 'eval.top5', 'eval.macroF1'; src/train's metricNames); an
// unknown name is a recipe error with a did-you-mean before any compute, not a crash after the
// first epoch.
import { ArgumentError, RecipeError } from '../errors.ts';
import { checkMetricName, type MetricNameOptions } from '../train/index.ts';
import type { Recipe } from './schema.ts';

/** Throws a RecipeError at `path` when `name` is no metric the run logs (src/train's check and wording). */
export function checkMetricAt(name: string, path: string, o: MetricNameOptions): void {
  try {
    checkMetricName(name, o, path);
  } catch (e) {
    if (!(e instanceof ArgumentError)) throw e;
    const hint = e.hint ? ` (hint: ${e.hint})` : '';
    let msg = e.message.endsWith(hint) ? e.message.slice(0, e.message.length - hint.length) : e.message;
    if (msg.startsWith(`${path}: `)) msg = msg.slice(path.length + 2);
    throw new RecipeError(path, msg, e.hint);
  }
}

/** Whether the recipe's data will have a validation split (image folders: assumed, their val/ is on disk). */
export function hasValidation(r: Recipe): boolean {
  const d = r.data;
  if (d.kind === 'manifest' || d.kind === 'text' || d.kind === 'causal-lm')
    return d.val !== undefined || d.valRatio !== undefined;
  return true;
}

/** Checks every monitor of the recipe against the metric names its run logs. */
export function checkMonitors(r: Recipe, o: { valid: boolean } = { valid: hasValidation(r) }): void {
  const t = r.train ?? {};
  const ctx: MetricNameOptions = {
    valid: o.valid,
    ...(r.task ? { task: r.task } : {}),
    ...(t.topK !== undefined ? { topK: t.topK } : {}),
  };
  if (t.monitor !== undefined)
    typeof t.monitor === 'string'
      ? checkMetricAt(t.monitor, 'train.monitor', ctx)
      : checkMetricAt(t.monitor.metric, 'train.monitor.metric', ctx);
  if (t.earlyStopping?.monitor !== undefined)
    checkMetricAt(t.earlyStopping.monitor, 'train.earlyStopping.monitor', ctx);
  // without a monitor ReduceLROnPlateau watches eval.loss, or train.loss when there is no validation
  const plateau = (s: { type: string; monitor?: string } | null | undefined, path: string) => {
    if (s?.type === 'ReduceLROnPlateau' && s.monitor !== undefined) checkMetricAt(s.monitor, `${path}.monitor`, ctx);
  };
  plateau(r.scheduler, 'scheduler');
  r.phases.forEach((p, i) => {
    plateau(p.scheduler, `phases[${i}].scheduler`);
  });
}
