// Channel shrinking in recipes: a prune phase with `shrink: true` (ln-structured, whole output
// channels) also prunes, after each round, the BatchNorm behind every shrinkable conv with the
// conv's channel mask, so a pruned channel is dead end to end (zero after the BatchNorm, not its
// bias). When the run ends the dead channels are removed for real (the BatchNorm and the next conv's
// inputs follow): the smaller model computes what the masked one did. Its widths go into
// config.json, so graft eval / predict rebuild it before its weights load.
import { join } from 'node:path';
import type { DataLoader } from '../data/index.ts';
import { RecipeError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import * as prune from '../prune/index.ts';
import * as quant from '../quant/index.ts';
import {
  appendText,
  formatRecord,
  METRICS_FILE,
  type MetricsRecord,
  type ShrinkMeasure,
  type ShrinkRecord,
} from '../report/index.ts';
import { noGrad, type Tensor, tidy } from '../tensor/index.ts';
import type { Trainer } from '../train/index.ts';
import { latency } from './compress_measure.ts';

interface Shrinkable {
  name: string;
  conv: Module;
  bn: Module | undefined;
}

const maskOf = (m: Module, name: string): Tensor | undefined => {
  for (const [n, b] of m.namedBuffers({ recurse: false })) if (n === `${name}_mask`) return b;
  return undefined;
};

/** The shrinkable convs among a prune phase's targets, and what follows them. */
export class ChannelShrink {
  readonly convs: Shrinkable[];
  constructor(model: Module, targets: [Module, string][], at: string) {
    const paths = new Map([...model.namedModules()].map(([n, m]) => [m, n]));
    const names = new Set(targets.map(([m]) => paths.get(m)));
    const { plans } = prune.shrinkable(model);
    this.convs = plans
      .filter((p) => names.has(p.conv))
      .map((p) => ({
        name: p.conv,
        conv: model.getSubmodule(p.conv),
        bn: p.bn ? model.getSubmodule(p.bn) : undefined,
      }));
    if (!this.convs.length)
      throw new RecipeError(
        at,
        'none of the pruned convs can shrink: only the inner convs of residual blocks (ResNet BasicBlock conv1, Bottleneck conv1 / conv2) can',
        'prune a ResNet, or leave shrink out',
      );
  }

  /** After a pruning round: each BatchNorm loses the channels its conv lost (its weight and bias masked). */
  followBn(): void {
    for (const { conv, bn } of this.convs) {
      const mask = maskOf(conv, 'weight');
      if (!bn || !mask) continue;
      const channels = noGrad(() => tidy(() => mask.flatten(1).sum(1).ne(0).float())).keep();
      try {
        for (const n of ['weight', 'bias'])
          if (bn.getParameter(n) || prune.pruningOf(bn).has(n)) prune.customFromMask(bn, n, channels);
      } finally {
        channels.dispose();
      }
    }
  }

  /** The BatchNorm tensors pruned here, as [module, name] pairs. */
  pruned(): [Module, string][] {
    return this.convs.flatMap(({ bn }) =>
      bn ? [...prune.pruningOf(bn).keys()].map((n) => [bn, n] as [Module, string]) : [],
    );
  }

  /**
   * Removes the dead channels (the masks baked already), measures the model before and after, writes
   * the shrink record, and puts the widths into `rebuild` (config.json's graft section).
   */
  async apply(
    model: Module,
    t: Trainer,
    o: { valid: DataLoader | undefined; outDir: string | undefined; rebuild: Record<string, unknown> | undefined },
  ): Promise<void> {
    const measure = async (): Promise<ShrinkMeasure> => {
      const ms = await latency(model, o.valid, t.forwardFn);
      return {
        parameters: model.numParameters(),
        bytes: quant.stateDictBytes(model).total,
        ...(ms !== undefined ? { msPerBatch: ms } : {}),
      };
    };
    const before = await measure();
    const report = prune.shrinkZeroed(
      model,
      this.convs.map((c) => c.name),
    );
    const after = await measure();
    if (o.rebuild)
      o.rebuild.shrunk = {
        ...((o.rebuild.shrunk as Record<string, number> | undefined) ?? {}),
        ...Object.fromEntries(report.layers.map((l) => [l.conv, l.after])),
      };
    if (!o.outDir) return;
    const rec: ShrinkRecord = { type: 'shrink', time: Date.now() / 1000, layers: report.layers, before, after };
    appendText(join(o.outDir, METRICS_FILE), `${formatRecord(rec as unknown as MetricsRecord)}\n`);
  }
}
