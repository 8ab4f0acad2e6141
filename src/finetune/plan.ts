// plan(): before any compute, what a run will do. The load report, every top-level module and
// layer group per phase (parameter count, trainable or frozen, group, learning rate), and every
// group's learning rate at every epoch, as text (tables + ASCII chart) and JSON: "always print
// requires_grad to check the idea was implemented", as data. The model is never
// touched: the plan drives a dry PhaseRunner (no tensors, no freezing applied).
import { ArgumentError } from '../errors.ts';
import { groupIndex, type ModelMeta, metaOf } from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import { type Series, svgChart } from './_plan_chart.ts';
import { EXCLUDED, renderText } from './_plan_text.ts';
import { PhaseRunner, type RunSpec } from './phases.ts';
import type { LoadReportLike, SelectContext } from './select.ts';

export interface PlanOptions extends Omit<SelectContext, 'model'> {
  /** overrides the run spec's stepsPerEpoch */
  stepsPerEpoch?: number;
  /** ASCII chart columns (default 64) */
  width?: number;
  /** also render an SVG chart */
  svg?: boolean;
  /** list every parameter with its group and trainable flag per phase in the text */
  params?: boolean;
}

export interface PlanModuleRow {
  path: string;
  kind: 'module' | 'layer-group';
  numel: number;
  trainable: number;
  groups: string[];
  lrs: number[];
  bnEval: boolean;
  /** a layer group with exactly this top-level module's parameters */
  sameAs?: string;
}

export interface PlanPhase {
  index: number;
  name: string | undefined;
  startEpoch: number;
  startStep: number;
  epochs: number | undefined;
  steps: number | undefined;
  optimizer: string;
  scheduler: { type: string; interval: 'epoch' | 'step' } | null;
  via: string;
  bn: string;
  frozen: string[];
  bnEval: string[];
  pinnedGroups: string[];
  /** each optimizer group's weight_decay at the phase start */
  weight_decay: (number | null)[];
  modules: PlanModuleRow[];
  /** parameters that train in this phase (not frozen, in an optimizer group), of model.parameters */
  trainableParameters: number;
  notes: string[];
}

export interface PlanJSON {
  model: { class: string; name: string | undefined; parameters: number; tensors: number };
  load: { loaded: number; skipped: { key: string; reason?: string }[]; missing: string[]; unexpected: string[] } | null;
  stepsPerEpoch: number | null;
  epochs: number;
  /** lr: the planned start value; weight_decay: what the first phase's optimizer uses (phases[i].weight_decay per phase) */
  groups: { name: string; group: string; params: string[]; numel: number; lr: number; weight_decay: number | null }[];
  parameters: { name: string; shape: number[]; numel: number; group: string; loaded: boolean | null }[];
  phases: PlanPhase[];
  /** each optimizer group's lr at the start of every epoch (0 for groups pinned at 0) */
  lrs: { epoch: number; phase: number; lr: number[]; frozen: boolean[] }[];
  notes: string[];
}

function needsSteps(spec: RunSpec): boolean {
  const step = (s: { interval?: string } | null | undefined) => s?.interval === 'step';
  return step(spec.scheduler) || spec.phases.some((p) => p.steps !== undefined || step(p.scheduler));
}

/** What a run will do, computed without touching the model: { json, text } (and svg when asked). */
export function plan(
  model: Module,
  spec: RunSpec,
  o: PlanOptions = {},
): { json: PlanJSON; text: string; svg?: string } {
  const run: RunSpec = o.stepsPerEpoch ? { ...spec, stepsPerEpoch: o.stepsPerEpoch } : spec;
  if (needsSteps(run) && !run.stepsPerEpoch)
    throw new ArgumentError(
      'plan: this run steps per batch; give stepsPerEpoch',
      'plan(model, spec, { stepsPerEpoch })',
    );
  const spe = run.stepsPerEpoch ?? 1;
  const r = new PhaseRunner(model, run, { dry: true, meta: o.meta, loadReport: o.loadReport });
  const epochs = r.totalEpochs!;
  const meta: ModelMeta | undefined = o.meta ?? metaOf(model);
  const groups = r.groups.groups;
  const groupOf = new Map<string, number>();
  groups.forEach((g, gi) => {
    for (const n of g.params) groupOf.set(n, gi);
  });
  const params = [...model.namedParameters()];
  const rows = moduleRows(model, meta);

  const phases: PlanPhase[] = [];
  const lrs: PlanJSON['lrs'] = [];
  const perStep: { lr: number[]; frozen: boolean[] }[] = [];
  const snapshot = (notes: string[]) => {
    if (phases.length && phases[phases.length - 1]!.index === r.phaseIndex) {
      phases[phases.length - 1]!.notes.push(...notes);
      return;
    }
    phases.push(phaseInfo(r, rows, groupOf, notes));
  };
  const state = () => {
    const frozen = new Set(r.freezeState.frozen);
    return {
      lr: r.optimizerLike.paramGroups.map((g) => g.lr),
      frozen: groups.map((g) => g.params.every((n) => frozen.has(n))),
    };
  };
  snapshot(r.notes.map((n) => n.text));
  for (let e = 0; e < epochs; e++) {
    snapshot(r.onEpochStart(e).map((n) => n.text));
    lrs.push({ epoch: e, phase: r.phaseIndex, ...state() });
    for (let s = 0; s < spe; s++) {
      perStep.push(state());
      snapshot(r.onStepEnd().map((n) => n.text));
    }
    r.onEpochEnd(e, {});
  }
  const notes: string[] = [];
  if (
    r.spec.phases.some((p) => p.scheduler?.type === 'ReduceLROnPlateau') ||
    run.scheduler?.type === 'ReduceLROnPlateau'
  )
    notes.push('ReduceLROnPlateau depends on metrics: lrs are shown without its reductions');
  const excluded = r.groups.excluded;
  if (excluded.length)
    notes.push(
      `${excluded.length} parameter tensor${excluded.length === 1 ? ' is' : 's are'} in no optimizer group (groups.exclude): this run never changes ${excluded.length === 1 ? 'it' : 'them'}`,
    );

  const loaded = o.loadReport ? new Set(o.loadReport.loaded) : undefined;
  const json: PlanJSON = {
    model: {
      class: model.constructor.name,
      name: meta?.name,
      parameters: params.reduce((a, [, p]) => a + p.numel(), 0),
      tensors: params.length,
    },
    load: o.loadReport ? loadSummary(o.loadReport) : null,
    stepsPerEpoch: run.stepsPerEpoch ?? null,
    epochs,
    groups: r.groups.description.map((g, gi) => ({
      ...g,
      weight_decay: phases[0]!.weight_decay[gi] ?? g.weight_decay ?? null,
    })),
    parameters: params.map(([name, p]) => ({
      name,
      shape: p.shape,
      numel: p.numel(),
      group: groupOf.has(name) ? groups[groupOf.get(name)!]!.name : EXCLUDED,
      loaded: loaded ? loaded.has(name) : null,
    })),
    phases,
    lrs,
    notes,
  };
  const series = buildSeries(groups, lrs, perStep);
  const text = renderText(json, series, perStep.length > lrs.length ? spe : 1, o);
  return o.svg ? { json, text, svg: svgChart(series.step) } : { json, text };
}

function moduleRows(model: Module, meta: ModelMeta | undefined) {
  const rows: { path: string; kind: 'module' | 'layer-group'; match: (n: string) => boolean }[] = [];
  const own = [...model.namedParameters({ recurse: false })];
  if (own.length) rows.push({ path: '(own)', kind: 'module', match: (n) => !n.includes('.') });
  for (const [name] of model.namedChildren())
    rows.push({ path: name, kind: 'module', match: (n) => n.startsWith(`${name}.`) });
  if (meta)
    meta.groups.forEach((g, i) => {
      rows.push({ path: g.name, kind: 'layer-group', match: (n) => groupIndex(meta, n) === i });
    });
  const names = [...model.namedParameters()].map(([n, p]) => [n, p.numel()] as const);
  const out = rows
    .map((row) => ({ ...row, params: names.filter(([n]) => row.match(n)), sameAs: undefined as string | undefined }))
    .filter((row) => row.params.length > 0);
  const key = (row: (typeof out)[number]) => row.params.map(([n]) => n).join('\n');
  for (const row of out)
    if (row.kind === 'layer-group') row.sameAs = out.find((c) => c.kind === 'module' && key(c) === key(row))?.path;
  return out;
}

function phaseInfo(r: PhaseRunner, rows: ReturnType<typeof moduleRows>, groupOf: Map<string, number>, notes: string[]) {
  const p = r.phase;
  const st = r.freezeState;
  const frozen = new Set(st.frozen);
  const groups = r.groups.groups;
  const lr = r.optimizerLike.paramGroups.map((g) => g.lr);
  const modules: PlanModuleRow[] = rows.map((row) => {
    const gis = [...new Set(row.params.flatMap(([n]) => (groupOf.has(n) ? [groupOf.get(n)!] : [])))];
    return {
      path: row.path,
      kind: row.kind,
      numel: row.params.reduce((a, [, k]) => a + k, 0),
      // a parameter in no group (groups.exclude) never changes: it does not count as training
      trainable: row.params.reduce((a, [n, k]) => a + (frozen.has(n) || !groupOf.has(n) ? 0 : k), 0),
      groups: [
        ...new Set([
          ...gis.map((gi) => groups[gi]!.group),
          ...(row.params.some(([n]) => !groupOf.has(n)) ? [EXCLUDED] : []),
        ]),
      ],
      lrs: [...new Set(gis.map((gi) => lr[gi]!))],
      bnEval: st.bnEval.some((b) => row.match(`${b}.weight`) || row.match(`${b}.running_mean`)),
      ...(row.sameAs === undefined ? {} : { sameAs: row.sameAs }),
    };
  });
  return {
    index: r.phaseIndex,
    name: p.name,
    startEpoch: r.phaseStartEpoch,
    startStep: r.phaseStartStep,
    epochs: p.epochs,
    steps: p.steps,
    optimizer: r.optimizerLike.type,
    scheduler: r.schedulerType ? { type: r.schedulerType, interval: r.schedulerInterval } : null,
    via: st.via,
    bn: st.bn,
    frozen: st.frozen,
    bnEval: st.bnEval,
    pinnedGroups: r.pinned.map((gi) => groups[gi]!.name),
    weight_decay: r.optimizerLike.paramGroups.map((g) => (typeof g.weight_decay === 'number' ? g.weight_decay : null)),
    modules,
    trainableParameters: [...r.model.namedParameters()].reduce(
      (n, [name, t]) => n + (frozen.has(name) || !groupOf.has(name) ? 0 : t.numel()),
      0,
    ),
    notes,
  };
}

function loadSummary(l: LoadReportLike): NonNullable<PlanJSON['load']> {
  return {
    loaded: l.loaded.length,
    // src/io's LoadReport lists shape skips (with both shapes) as skippedShape; plain report objects say skipped
    skipped: l.skippedShape
      ? l.skippedShape.map((s) => ({
          key: s.key,
          reason: s.checkpoint && s.model ? `shape [${s.checkpoint.join(', ')}] vs [${s.model.join(', ')}]` : 'shape',
        }))
      : (l.skipped ?? []).map((s) => (typeof s === 'string' ? { key: s } : { key: s.key, reason: s.reason })),
    missing: [...(l.missing ?? [])],
    unexpected: [...(l.unexpected ?? [])],
  };
}

// one series per logical group, split where its optimizer groups' lrs differ
function buildSeries(
  groups: PhaseRunner['groups']['groups'],
  epochs: PlanJSON['lrs'],
  steps: { lr: number[]; frozen: boolean[] }[],
): { epoch: Series[]; step: Series[] } {
  const logical = [...new Set(groups.map((g) => g.group))];
  const epoch: Series[] = [];
  const step: Series[] = [];
  const mk = (label: string, gis: number[], rows: { lr: number[]; frozen: boolean[] }[]): Series => ({
    label,
    values: rows.map((x) => x.lr[gis[0]!]!),
    frozen: rows.map((x) => gis.every((gi) => x.frozen[gi])),
  });
  for (const name of logical) {
    const gis = groups.flatMap((g, i) => (g.group === name ? [i] : []));
    const same = steps.every((x) => gis.every((gi) => x.lr[gi] === x.lr[gis[0]!]));
    const sets = same ? [[name, gis] as const] : gis.map((gi) => [groups[gi]!.name, [gi]] as const);
    for (const [label, idx] of sets) {
      epoch.push(mk(label, [...idx], epochs));
      step.push(mk(label, [...idx], steps));
    }
  }
  return { epoch, step };
}
