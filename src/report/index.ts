// Metrics records -> charts -> a self-contained HTML report. Never imports tensors.
export { buildCharts, type Chart, type PhaseBoundary, phaseBoundaries, renderSpec } from './charts.ts';
export {
  compressSection,
  type ModelMeasure,
  type PruneRecord,
  type QuantizeRecord,
  type ShrinkMeasure,
  type ShrinkRecord,
} from './compress.ts';
export { CONFUSED_PAIRS, CONFUSION_MAX_CLASSES, confusionFields, confusionSection } from './confusion.ts';
export { appendText, ensureDir, truncateFile, WriteError, writeFileAtomic } from './files.ts';
export { type ReportOptions, renderReport, writeReport } from './html.ts';
export { type LoadSummary, loadSection, parseLoadSummary } from './load.ts';
export { fmtLr, formatLrs, groupLabel, type LrPoint, lrPoints, NO_DECAY_SUFFIX, recordLr, shownGroups } from './lr.ts';
export {
  type EpochRecord,
  formatRecord,
  type LrChange,
  type MetricsRecord,
  metricOf,
  parseMetrics,
  type RunInfo,
  type RunRecord,
  readMetrics,
  type SplitMetrics,
  type StepRecord,
  splitScalars,
} from './records.ts';
export {
  LOAD_REPORT_FILE,
  METRICS_FILE,
  REPORT_FILE,
  type RunReportOptions,
  readLoadSummary,
  writeRunReport,
} from './run.ts';
