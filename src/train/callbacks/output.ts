// What a run leaves behind besides checkpoints: report.html and, when the run ends well,
// model.safetensors + config.json. The report is rendered when the run ends (however it ends) and,
// during a long run, after an epoch when `everyMinutes` have passed since the last render: a
// render reads all of metrics.jsonl and draws every chart, so doing it every epoch costs a long run
// a large share of its time and memory, while every 10 minutes keeps a report to look at (and one
// at most 10 minutes old after a crash) for a fraction of a percent. `graft report RUN_DIR`
// renders it at any moment.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LoadReport, RawTensor } from '../../io/index.ts';
import type { Module } from '../../nn/index.ts';
import {
  LOAD_REPORT_FILE,
  type LoadSummary,
  parseLoadSummary,
  type ReportOptions,
  readLoadSummary,
  writeRunReport,
} from '../../report/index.ts';
import { readCheckpoint } from '../checkpoint.ts';
import type { Callback } from '../events.ts';
import { type ExportInfo, saveModel } from '../export.ts';
import type { Trainer } from '../trainer.ts';

export interface ReportCallbackOptions extends ReportOptions {
  /** during the run, render after an epoch once this many minutes have passed since the last render (default 10; 0: every epoch) */
  everyMinutes?: number;
  /** the run's checkpoint load (default: load-report.json beside the report, if there is one) */
  loadReport?: LoadReport | LoadSummary;
}

export class ReportCallback implements Callback {
  readonly order = 50;
  readonly everyMinutes: number;
  /** renders so far (for tests and the curious) */
  renders = 0;
  #last = 0;

  constructor(
    readonly path: string,
    readonly metricsPath: string,
    readonly opts: ReportCallbackOptions = {},
  ) {
    this.everyMinutes = opts.everyMinutes ?? 10;
  }

  #load(): LoadSummary | undefined {
    const l = this.opts.loadReport;
    if (l) return parseLoadSummary(JSON.parse(JSON.stringify(l)));
    return readLoadSummary(join(dirname(this.path), LOAD_REPORT_FILE));
  }

  async render(): Promise<void> {
    if (!existsSync(this.metricsPath)) return;
    const { loadReport: _, everyMinutes: __, ...opts } = this.opts;
    const load = this.#load();
    await writeRunReport(dirname(this.path), {
      ...opts,
      metricsPath: this.metricsPath,
      out: this.path,
      ...(load ? { load } : {}),
    });
    this.renders += 1;
    this.#last = performance.now();
  }

  beforeFit(): void {
    this.#last = performance.now();
  }

  async afterEpoch(): Promise<void> {
    if (performance.now() - this.#last >= this.everyMinutes * 60_000) await this.render();
  }

  async afterFit(t: Trainer): Promise<void> {
    try {
      await this.render();
    } catch (e) {
      // a run that already failed reports its own error; else this one ends it (the trainer rethrows it)
      t.error ??= e;
    }
  }
}

export interface ExportOptions extends ExportInfo {
  dir: string;
  /** export the last weights (default) or those of best.pth */
  weights?: 'last' | 'best';
  /** where best.pth is, for weights: 'best' */
  bestCheckpoint?: string;
  /** the module whose weights are exported, if not the trained one (QAT: the float model sharing its parameters) */
  model?: Module;
}

export class ExportCallback implements Callback {
  readonly order = 60;
  written: { weights: string; config: string } | undefined;
  constructor(readonly o: ExportOptions) {}

  afterFit(t: Trainer): void {
    if (t.error) return;
    mkdirSync(this.o.dir, { recursive: true });
    let weights: Map<string, RawTensor> | undefined;
    let metrics = t.metrics;
    if (this.o.weights === 'best' && this.o.bestCheckpoint && existsSync(this.o.bestCheckpoint)) {
      const { raw, tree } = readCheckpoint(this.o.bestCheckpoint);
      weights = new Map([...(raw.get('model') as Map<string, RawTensor>)]);
      metrics = tree.metrics ?? metrics;
    }
    const { model = t.model, ...info } = this.o;
    this.written = saveModel(this.o.dir, model, { ...info, metrics: this.o.metrics ?? metrics }, weights);
  }
}
