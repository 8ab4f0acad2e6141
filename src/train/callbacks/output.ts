// What a run leaves behind besides checkpoints: report.html (rewritten after every epoch, so a
// stopped run has one too) and, when the run ends well, model.safetensors + config.json.
import { existsSync, mkdirSync } from 'node:fs';
import type { RawTensor } from '../../io/index.ts';
import { type ReportOptions, readMetrics, writeReport } from '../../report/index.ts';
import { readCheckpoint } from '../checkpoint.ts';
import type { Callback } from '../events.ts';
import { type ExportInfo, saveModel } from '../export.ts';
import type { Trainer } from '../trainer.ts';

export class ReportCallback implements Callback {
  readonly order = 50;
  constructor(
    readonly path: string,
    readonly metricsPath: string,
    readonly opts: ReportOptions = {},
  ) {}

  async render(): Promise<void> {
    if (!existsSync(this.metricsPath)) return;
    await writeReport(this.path, readMetrics(this.metricsPath), this.opts);
  }

  async afterEpoch(): Promise<void> {
    await this.render();
  }

  async afterFit(): Promise<void> {
    await this.render();
  }
}

export interface ExportOptions extends ExportInfo {
  dir: string;
  /** export the last weights (default) or those of best.pth */
  weights?: 'last' | 'best';
  /** where best.pth is, for weights: 'best' */
  bestCheckpoint?: string;
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
    this.written = saveModel(this.o.dir, t.model, { ...this.o, metrics: this.o.metrics ?? metrics }, weights);
  }
}
