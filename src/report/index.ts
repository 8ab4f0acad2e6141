// Metrics records -> charts -> a self-contained HTML report. Never imports tensors.
export { buildCharts, type Chart, type PhaseBoundary, phaseBoundaries, renderSpec } from './charts.ts';
export { type ReportOptions, renderReport, writeReport } from './html.ts';
export {
  type EpochRecord,
  formatRecord,
  type MetricsRecord,
  parseMetrics,
  type RunInfo,
  type RunRecord,
  readMetrics,
  type SplitMetrics,
  type StepRecord,
} from './records.ts';
