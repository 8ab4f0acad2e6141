// Charts from metrics records: Vega-Lite specs rendered to SVG on the server (vega's 'none'
// renderer), so the report is static markup that needs no script and no network.
import { lrPoints } from './lr.ts';
import { type EpochRecord, type MetricsRecord, type StepRecord, splitScalars } from './records.ts';

type Row = Record<string, string | number | null>;
type Spec = Record<string, unknown>;

export interface Chart {
  id: string;
  title: string;
  svg: string;
}

export interface PhaseBoundary {
  phase: string;
  /** first optimizer step of the phase */
  step: number;
  /** first epoch of the phase (0-based) */
  epoch: number;
}

const WIDTH = 640;
const HEIGHT = 240;
const MAX_POINTS = 2000;

/**
 * Where each phase starts: the step count and epoch at its first optimizer step. Phases change at
 * epoch starts, so a phase begins where the epoch before it ended (the last epoch record's step),
 * however sparsely step records are written.
 */
export function phaseBoundaries(records: MetricsRecord[]): PhaseBoundary[] {
  const out: PhaseBoundary[] = [];
  let last: string | undefined;
  let epochEnd = { epoch: -1, step: 0 };
  for (const r of records) {
    if (r.type === 'run') continue;
    if (r.phase !== undefined && r.phase !== last) {
      last = r.phase;
      const exact = r.type === 'epoch' ? r.lrSteps?.[0]?.step : undefined;
      // the epoch before this one ended at epochEnd.step; without its record, the record's own step is the best guess
      const step = exact ?? (epochEnd.epoch === r.epoch - 1 ? epochEnd.step : Math.max(0, r.step - 1));
      out.push({ phase: r.phase, step, epoch: r.epoch });
    }
    if (r.type === 'epoch') epochEnd = { epoch: r.epoch, step: r.step };
  }
  return out;
}

/** Every `k`-th row so a long run stays a light SVG; the last row always kept. */
function thin<T>(rows: T[]): T[] {
  if (rows.length <= MAX_POINTS) return rows;
  const k = Math.ceil(rows.length / MAX_POINTS);
  const out = rows.filter((_, i) => i % k === 0);
  if (out[out.length - 1] !== rows[rows.length - 1]) out.push(rows[rows.length - 1]!);
  return out;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function ruleLayer(bounds: PhaseBoundary[], field: 'step' | 'epoch'): Spec[] {
  if (bounds.length === 0) return [];
  // x counts what is done: a phase starting at 0-based epoch e (step s) starts after e epochs (s steps)
  const values = bounds.map((b) => ({ x: field === 'epoch' ? b.epoch : b.step, phase: b.phase }));
  return [
    {
      data: { values },
      mark: { type: 'rule', strokeDash: [4, 3], color: '#888' },
      encoding: { x: { field: 'x', type: 'quantitative' } },
    },
    {
      data: { values },
      mark: { type: 'text', align: 'left', baseline: 'top', dx: 3, dy: 2, color: '#555', fontSize: 10 },
      encoding: { x: { field: 'x', type: 'quantitative' }, y: { value: 0 }, text: { field: 'phase' } },
    },
  ];
}

// steps and epochs are counts: integer ticks only
const COUNT_AXIS = { tickMinStep: 1, format: 'd' };

function lineSpec(
  rows: Row[],
  x: string,
  xTitle: string,
  yTitle: string,
  extra: Spec[],
  o: { logY?: boolean; stepped?: boolean } = {},
): Spec {
  return {
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    layer: [
      {
        data: { values: rows },
        mark: {
          type: 'line',
          point: rows.length <= 60,
          strokeWidth: 1.5,
          ...(o.stepped ? { interpolate: 'step-after' } : {}),
        },
        encoding: {
          x: { field: x, type: 'quantitative', title: xTitle, axis: COUNT_AXIS },
          y: {
            field: 'value',
            type: 'quantitative',
            title: yTitle,
            scale: o.logY ? { type: 'log' } : { zero: false },
          },
          color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'top' } },
        },
      },
      ...extra,
    ],
  };
}

// series are named as metrics.jsonl and `monitor:` name the metrics: train.loss, eval.accuracy, ...
function lossRows(steps: StepRecord[], epochs: EpochRecord[]): Row[] {
  const rows: Row[] = thin(steps.filter((r) => finite(r.loss))).map((r) => ({
    step: r.step,
    value: r.loss,
    series: 'train.loss (steps)',
  }));
  for (const e of epochs) {
    if (finite(e.train?.loss)) rows.push({ step: e.step, value: e.train.loss, series: 'train.loss' });
    if (finite(e.eval?.loss)) rows.push({ step: e.step, value: e.eval!.loss, series: 'eval.loss' });
  }
  return rows;
}

/** train.accuracy and every scalar eval metric (eval.accuracy, eval.top5, eval.macroF1, ...), per epoch. */
function accuracyRows(epochs: EpochRecord[]): Row[] {
  const rows: Row[] = [];
  for (const e of epochs) {
    const x = e.epoch + 1;
    if (finite(e.train?.accuracy)) rows.push({ epoch: x, value: e.train.accuracy, series: 'train.accuracy' });
    for (const [k, v] of splitScalars(e.eval)) if (finite(v)) rows.push({ epoch: x, value: v, series: `eval.${k}` });
  }
  return rows;
}

/** Every optimizer step's learning rate per group (a step function), thinned per series. */
function lrRows(records: MetricsRecord[]): Row[] {
  const bySeries = new Map<string, Row[]>();
  for (const p of lrPoints(records)) {
    const rows = bySeries.get(p.name) ?? [];
    bySeries.set(p.name, rows);
    rows.push({ step: p.step, value: p.value, series: p.name });
  }
  return [...bySeries.values()].flatMap((rows) => thin(rows));
}

function perClassSpec(values: (number | null)[], names: string[] | undefined): Spec {
  const rows = values.map((v, i) => ({ cls: names?.[i] ?? String(i), value: v }));
  return {
    width: Math.min(WIDTH, Math.max(160, rows.length * 24)),
    height: HEIGHT,
    background: 'white',
    data: { values: rows.filter((r) => r.value !== null) },
    mark: 'bar',
    encoding: {
      x: { field: 'cls', type: 'nominal', title: 'class', sort: null },
      y: { field: 'value', type: 'quantitative', title: 'accuracy (recall)', scale: { domain: [0, 1] } },
    },
  };
}

// a vega SVG carries xmlns declarations only; inline in HTML5 they are implied, and dropping them
// keeps the page free of any http(s) string
function inlineSvg(svg: string): string {
  return svg.replace(/\s+xmlns(:xlink)?="[^"]*"/g, '');
}

let vegaModules: Promise<[typeof import('vega'), typeof import('vega-lite')]> | undefined;

/** Renders one Vega-Lite spec to an SVG string. */
export async function renderSpec(spec: Spec): Promise<string> {
  vegaModules ??= Promise.all([import('vega'), import('vega-lite')]);
  const [vega, vl] = await vegaModules;
  const compiled = vl.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return inlineSvg(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/** The report's charts, in page order; charts without data are left out. */
export async function buildCharts(records: MetricsRecord[], classNames?: string[]): Promise<Chart[]> {
  const steps = records.filter((r): r is StepRecord => r.type === 'step');
  const epochs = records.filter((r): r is EpochRecord => r.type === 'epoch');
  const bounds = phaseBoundaries(records);
  const specs: { id: string; title: string; spec: Spec }[] = [];
  const loss = lossRows(steps, epochs);
  if (loss.length)
    specs.push({
      id: 'loss',
      title: 'Loss',
      spec: lineSpec(loss, 'step', 'optimizer steps', 'loss', ruleLayer(bounds, 'step')),
    });
  const acc = accuracyRows(epochs);
  if (acc.length)
    specs.push({
      id: 'accuracy',
      title: 'Accuracy and the other metrics, per epoch',
      spec: lineSpec(acc, 'epoch', 'epoch', 'value', ruleLayer(bounds, 'epoch')),
    });
  const lr = lrRows(records);
  if (lr.length) {
    const logY = lr.every((r) => (r.value as number) > 0);
    specs.push({
      id: 'lr',
      title: 'Learning rate per parameter group (every optimizer step)',
      spec: lineSpec(lr, 'step', 'optimizer steps', 'learning rate', ruleLayer(bounds, 'step'), {
        logY,
        stepped: true,
      }),
    });
  }
  const lastEval = [...epochs].reverse().find((e) => e.eval?.perClassAccuracy?.length);
  if (lastEval)
    specs.push({
      id: 'per-class',
      title: `Per-class accuracy (epoch ${lastEval.epoch + 1})`,
      spec: perClassSpec(lastEval.eval!.perClassAccuracy!, classNames),
    });
  const out: Chart[] = [];
  for (const s of specs) out.push({ id: s.id, title: s.title, svg: await renderSpec(s.spec) });
  return out;
}
