// The functions of torch.nn.utils.prune, with its argument order and semantics.
import { ArgumentError, ShapeError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import { cat, noGrad, type Tensor, tidy } from '../tensor/index.ts';
import type { Amount } from './amount.ts';
import { applyPruning, currentTensor, maskInForce } from './apply.ts';
import {
  CustomFromMask,
  Identity,
  L1Unstructured,
  LnStructured,
  PruningContainer,
  type PruningMethod,
  RandomStructured,
  RandomUnstructured,
} from './methods.ts';

export interface ScoreOptions {
  /** scores ranking the entries instead of the tensor itself (same shape) */
  importanceScores?: Tensor;
}

/** Reparametrizes `name` (name_orig, name_mask, hook) without pruning anything. */
export function identity<M extends Module>(module: M, name: string): M {
  applyPruning(module, name, new Identity());
  return module;
}

/** Prunes the `amount` entries of `name` with the smallest absolute value. */
export function l1Unstructured<M extends Module>(module: M, name: string, amount: Amount, o: ScoreOptions = {}): M {
  applyPruning(module, name, new L1Unstructured(amount), o.importanceScores);
  return module;
}

/** Prunes `amount` entries of `name` at random (graft's generator: manualSeed matches torch.manual_seed). */
export function randomUnstructured<M extends Module>(module: M, name: string, amount: Amount): M {
  applyPruning(module, name, new RandomUnstructured(amount));
  return module;
}

/**
 * Prunes the `amount` slices along `dim` with the smallest Ln norm (n = 1, 2, Infinity, ...):
 * dim 0 of a Conv2d or Linear weight removes whole output channels.
 */
export function lnStructured<M extends Module>(
  module: M,
  name: string,
  amount: Amount,
  n: number,
  dim: number,
  o: ScoreOptions = {},
): M {
  applyPruning(module, name, new LnStructured(amount, n, dim), o.importanceScores);
  return module;
}

/** Prunes `amount` slices along `dim` chosen at random (manualSeed matches torch.manual_seed). */
export function randomStructured<M extends Module>(module: M, name: string, amount: Amount, dim: number): M {
  applyPruning(module, name, new RandomStructured(amount, dim));
  return module;
}

/** Prunes with a given mask (1 keeps, 0 prunes), combined with any mask in force. */
export function customFromMask<M extends Module>(module: M, name: string, mask: Tensor): M {
  applyPruning(module, name, new CustomFromMask(mask));
  return module;
}

export interface GlobalOptions {
  amount: Amount;
  /** 'l1' (default): smallest |w| across all tensors; 'random': at random across all */
  method?: 'l1' | 'random';
  /** per pair, scores ranking its entries instead of the tensor (undefined: the tensor) */
  importanceScores?: (Tensor | undefined)[];
}

/**
 * Prunes across several tensors at once (torch's global_unstructured): `amount` counts over all
 * of them together, so layers with small weights lose more. Already-pruned entries stay pruned
 * and a fraction counts what is still unpruned.
 */
export function globalUnstructured(parameters: [Module, string][], o: GlobalOptions): void {
  if (!Array.isArray(parameters) || parameters.length === 0)
    throw new ArgumentError('globalUnstructured: pass a non-empty array of [module, name] pairs');
  const method: PruningMethod =
    o.method === undefined || o.method === 'l1'
      ? new L1Unstructured(o.amount)
      : o.method === 'random'
        ? new RandomUnstructured(o.amount)
        : (() => {
            throw new ArgumentError(`globalUnstructured: method '${o.method}' is not 'l1' or 'random'`);
          })();
  const currents = parameters.map(([m, n]) => currentTensor(m, n));
  o.importanceScores?.forEach((s, i) => {
    if (s && s.numel() !== currents[i]!.numel())
      throw new ShapeError(
        `globalUnstructured: importanceScores[${i}] has shape [${s.shape}], its tensor [${currents[i]!.shape}]`,
      );
  });
  const masks = noGrad(() =>
    tidy(() => {
      const scores = cat(parameters.map((_, i) => (o.importanceScores?.[i] ?? currents[i]!).detach().reshape(-1)));
      const defaults = cat(parameters.map(([m, n]) => maskInForce(m, n).reshape(-1)));
      const final = new PruningContainer([method]).computeMask(scores, defaults);
      let at = 0;
      return currents.map((t) => {
        const part = final
          .slice(0, at, at + t.numel())
          .view(t.shape)
          .clone();
        at += t.numel();
        return part;
      });
    }),
  );
  parameters.forEach(([m, n], i) => {
    customFromMask(m, n, masks[i]!);
    masks[i]!.dispose();
  });
}
