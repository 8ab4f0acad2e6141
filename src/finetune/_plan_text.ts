// plan()'s text: the load summary, the parameter groups, a table of modules per phase, the
// learning rate per epoch and an ASCII chart of it per step.
import { asciiChart, type Series, sample } from './_plan_chart.ts';
import { fmtLr } from './lr.ts';
import type { PlanJSON, PlanModuleRow, PlanOptions } from './plan.ts';

export const int = (n: number): string => n.toLocaleString('en-US');
/** the group column of parameters left out of every optimizer group (groups.exclude) */
export const EXCLUDED = '(no group)';

function table(head: string[], rows: string[][], right: Set<number> = new Set()): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    `  ${r.map((c, i) => (right.has(i) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ')}`.trimEnd();
  return [fmt(head), ...rows.map(fmt)];
}

export function renderText(j: PlanJSON, s: { epoch: Series[]; step: Series[] }, spe: number, o: PlanOptions): string {
  const out: string[] = [];
  const m = j.model;
  out.push(
    `plan: ${m.name ?? m.class} (${int(m.parameters)} parameters in ${m.tensors} tensors), ` +
      `${j.phases.length} phase${j.phases.length === 1 ? '' : 's'}, ${j.epochs} epochs` +
      (j.stepsPerEpoch ? ` x ${j.stepsPerEpoch} steps` : ''),
  );
  if (j.load) {
    const l = j.load;
    out.push(
      `load: ${l.loaded} loaded, ${l.skipped.length} skipped, ${l.missing.length} missing (new), ${l.unexpected.length} unexpected`,
    );
    const list = (what: string, xs: string[]) => {
      if (xs.length) out.push(`  ${what}: ${xs.slice(0, 8).join(', ')}${xs.length > 8 ? ` (+${xs.length - 8})` : ''}`);
    };
    list(
      'skipped',
      l.skipped.map((x) => (x.reason ? `${x.key} (${x.reason})` : x.key)),
    );
    list('missing', l.missing);
    list('unexpected', l.unexpected);
  }
  out.push('', 'parameter groups');
  out.push(
    ...table(
      ['#', 'name', 'tensors', 'params', 'lr', 'weight_decay'],
      j.groups.map((g, i) => [
        String(i),
        g.name,
        String(g.params.length),
        int(g.numel),
        fmtLr(g.lr),
        [...new Set(j.phases.map((p) => p.weight_decay[i] ?? null))]
          .map((w) => (w === null ? '-' : String(w)))
          .join(' -> '),
      ]),
      new Set([2, 3]),
    ),
  );
  for (const p of j.phases) {
    const len = p.epochs !== undefined ? `${p.epochs} epoch${p.epochs === 1 ? '' : 's'}` : `${p.steps} steps`;
    const sched = p.scheduler ? `${p.scheduler.type} per ${p.scheduler.interval}` : 'no scheduler';
    const nFrozen = p.frozen.length;
    out.push(
      '',
      `phase ${p.index}${p.name ? ` '${p.name}'` : ''}: from epoch ${p.startEpoch}, ${len}; ${p.optimizer}, ${sched}; ` +
        (nFrozen ? `${nFrozen} tensors frozen (via ${p.via}, bn ${p.bn})` : 'everything trains'),
    );
    const cell = (r: PlanModuleRow): string =>
      r.trainable === r.numel
        ? 'yes'
        : r.trainable === 0
          ? r.groups.length === 1 && r.groups[0] === EXCLUDED
            ? 'no group'
            : p.via === 'lr0'
              ? 'lr=0'
              : 'frozen'
          : `${int(r.trainable)} of ${int(r.numel)}`;
    // a layer group with exactly a top-level module's parameters adds nothing to the table
    const rows = p.modules
      .filter((r) => r.sameAs === undefined)
      .map((r) => [
        r.kind === 'layer-group' ? `[${r.path}]` : r.path,
        int(r.numel),
        cell(r),
        r.groups.join(', '),
        r.lrs.map(fmtLr).join(' / '),
        r.bnEval ? 'eval' : '',
      ]);
    // PEFT's print_trainable_parameters, per phase
    const pct = m.parameters ? (100 * p.trainableParameters) / m.parameters : 0;
    out.push(
      `  trainable: ${int(p.trainableParameters)} of ${int(m.parameters)} parameters (${pct.toFixed(pct < 1 ? 4 : 2)}%)`,
    );
    out.push(...table(['module', 'params', 'trainable', 'group', 'lr', 'bn'], rows, new Set([1])));
    for (const n of p.notes) out.push(`  - ${n}`);
  }
  out.push('', 'learning rate at the start of each epoch (* frozen)');
  const erows: string[][] = [];
  let prev = '';
  j.lrs.forEach((row, i) => {
    const cells = s.epoch.map((x) => `${fmtLr(x.values[i]!)}${x.frozen[i] ? '*' : ''}`);
    const key = `${row.phase}|${cells.join('|')}`;
    const last = erows[erows.length - 1];
    if (key === prev && last) last[0] = `${last[0]!.split('-')[0]}-${row.epoch}`;
    else erows.push([String(row.epoch), String(row.phase), ...cells]);
    prev = key;
  });
  out.push(...table(['epoch', 'phase', ...s.epoch.map((x) => x.label)], erows));
  const width = o.width ?? 64;
  const steps = sample(s.step[0]?.values.map((_, i) => i) ?? [], width);
  const chart: Series[] = s.step.map((x) => ({
    label: x.label,
    values: steps.index.map((i) => x.values[i]!),
    frozen: steps.index.map((i) => x.frozen[i]!),
  }));
  const ticks: [number, string][] = [];
  for (let e = 0; e < j.epochs; e += Math.max(1, Math.ceil(j.epochs / 8))) {
    const col = steps.index.findIndex((i) => i >= e * spe);
    if (col >= 0) ticks.push([col, String(e)]);
  }
  out.push('', asciiChart(chart, { ticks, xLabel: 'epoch' }));
  if (o.params) {
    out.push('', 'parameters (T trains, - frozen, x in no group, per phase)');
    out.push(
      ...table(
        ['name', 'shape', 'group', ...j.phases.map((p) => String(p.index))],
        j.parameters.map((x) => [
          x.name,
          `[${x.shape.join(', ')}]`,
          x.group,
          ...j.phases.map((p) => (x.group === EXCLUDED ? 'x' : p.frozen.includes(x.name) ? '-' : 'T')),
        ]),
      ),
    );
  }
  for (const n of j.notes) out.push(`note: ${n}`);
  return out.join('\n');
}
