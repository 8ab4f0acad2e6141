// Compression in the report: sparsity and accuracy after each pruning round, the channels a
// structured pruning removed (parameters, size, latency before and after), and the int8 model
// against the float one (size, accuracy, latency).
import { esc, table } from './markup.ts';

/** Written after each epoch of a pruning phase (after its validation). */
export interface PruneRecord {
  type: 'prune';
  time: number;
  phase?: string;
  epoch: number;
  step: number;
  /** the pruning round this epoch belongs to (1-based) and how many the phase has */
  round: number;
  rounds: number;
  method: string;
  /** the sparsity this round aimed at and the one measured over the pruned weights */
  target: number;
  sparsity: number;
  evalAccuracy?: number;
  evalLoss?: number;
}

export interface ModelMeasure {
  /** bytes of the state dict */
  bytes: number;
  accuracy?: number;
  loss?: number;
  /** median milliseconds of one forward pass over a validation batch */
  msPerBatch?: number;
}

/** Written once after training when the recipe quantizes. */
export interface QuantizeRecord {
  type: 'quantize';
  time: number;
  mode: 'dynamic' | 'static' | 'qat';
  backend?: string;
  engine: string;
  calibrationBatches?: number;
  batchSize?: number;
  float: ModelMeasure;
  int8: ModelMeasure;
  /** the int8 model's file in the run folder */
  file?: string;
}

export interface ShrinkMeasure {
  parameters: number;
  /** bytes of the state dict */
  bytes: number;
  /** median milliseconds of one forward pass over a validation batch */
  msPerBatch?: number;
}

/** Written once when a run that pruned whole channels removes them (prune.shrink). */
export interface ShrinkRecord {
  type: 'shrink';
  time: number;
  /** each conv that lost channels: its output channels before and after */
  layers: { conv: string; before: number; after: number }[];
  before: ShrinkMeasure;
  after: ShrinkMeasure;
}

const pct = (v: number | undefined) => (v === undefined ? '-' : `${(v * 100).toFixed(2)}%`);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
const ms = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(2)} ms`);

/** The report's Compression section (empty string when the run neither pruned nor quantized). */
export function compressSection(records: { type: string }[]): string {
  const prunes = records.filter((r): r is PruneRecord => r.type === 'prune');
  const quants = records.filter((r): r is QuantizeRecord => r.type === 'quantize');
  const shrinks = records.filter((r): r is ShrinkRecord => r.type === 'shrink');
  if (!prunes.length && !quants.length && !shrinks.length) return '';
  const parts = ['<h2>Compression</h2>'];
  if (prunes.length)
    parts.push(
      '<h3>Pruning</h3>',
      table(
        ['epoch', 'phase', 'round', 'method', 'target', 'sparsity', 'eval accuracy', 'eval loss'],
        prunes.map((p) => [
          String(p.epoch + 1),
          esc(p.phase ?? '-'),
          `${p.round}/${p.rounds}`,
          esc(p.method),
          pct(p.target),
          pct(p.sparsity),
          pct(p.evalAccuracy),
          p.evalLoss === undefined ? '-' : p.evalLoss.toFixed(4),
        ]),
      ),
    );
  for (const s of shrinks) {
    const ratio = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}x` : '-');
    parts.push(
      `<h3>Channels removed (${s.layers.length} convs)</h3>`,
      table(
        ['model', 'parameters', 'size', 'latency / batch'],
        [
          ['masked', s.before.parameters.toLocaleString('en-US'), mib(s.before.bytes), ms(s.before.msPerBatch)],
          ['shrunk', s.after.parameters.toLocaleString('en-US'), mib(s.after.bytes), ms(s.after.msPerBatch)],
          [
            'masked / shrunk',
            ratio(s.before.parameters, s.after.parameters),
            ratio(s.before.bytes, s.after.bytes),
            ratio(s.before.msPerBatch, s.after.msPerBatch),
          ],
        ],
      ),
      `<p class="muted">${s.layers.map((l) => `${esc(l.conv)} ${l.before} &rarr; ${l.after}`).join(', ')}</p>`,
    );
  }
  for (const q of quants) {
    const ratio = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}x` : '-');
    parts.push(
      `<h3>int8 quantization (${esc(q.mode)}${q.backend ? `, ${esc(q.backend)} qconfig` : ''}, ${esc(q.engine)} kernels)</h3>`,
      table(
        ['model', 'size', 'eval accuracy', 'eval loss', 'latency / batch'],
        [
          [
            'float32',
            mib(q.float.bytes),
            pct(q.float.accuracy),
            q.float.loss?.toFixed(4) ?? '-',
            ms(q.float.msPerBatch),
          ],
          ['int8', mib(q.int8.bytes), pct(q.int8.accuracy), q.int8.loss?.toFixed(4) ?? '-', ms(q.int8.msPerBatch)],
          ['float / int8', ratio(q.float.bytes, q.int8.bytes), '', '', ratio(q.float.msPerBatch, q.int8.msPerBatch)],
        ],
      ),
    );
    if (q.calibrationBatches) parts.push(`<p class="muted">calibrated on ${q.calibrationBatches} training batches</p>`);
    if (q.mode === 'qat')
      parts.push('<p class="muted">trained with fake quantization; float32: the same weights without it</p>');
    if (q.file) parts.push(`<p class="muted">int8 model: ${esc(q.file)}</p>`);
  }
  return parts.join('\n');
}
