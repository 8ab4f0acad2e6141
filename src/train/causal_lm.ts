// The causal-LM training step's forward and loss. The loss shifts once (logits[:, :-1] against
// labels[:, 1:]) and averages over the tokens that are not -100; a batch's `items` is that token
// count, so gradient accumulation (sum of item-weighted losses / items of the window) and the
// meters (perplexity = exp(token-weighted loss)) weigh tokens, not rows. The output layer and the
// loss run in fp32 outside autocast (tied heads too: their weight is used as fp32), the rest in
// the autocast dtype. Gradient checkpointing recomputes each block in backward; see checkpointed().
import { ArgumentError } from '../errors.ts';
import type { Module, Parameter } from '../nn/index.ts';
import {
  autocast,
  clearAutocastCache,
  crossEntropy,
  F,
  grad,
  isGradEnabled,
  manualSeed,
  noGrad,
  rand,
  type Tensor,
  tidy,
} from '../tensor/index.ts';
import { type DecoderInputs, type DecoderRun, decoderRun, hasDecoderParts } from './causal_lm_parts.ts';
import type { ForwardFn, LossFn } from './options.ts';
import type { Batch, BatchInput } from './source.ts';

export const IGNORE_INDEX = -100;

/** Mean cross-entropy of next-token prediction over the labels that are not -100 (0 when there are none). */
export function causalLMTokenLoss(logits: Tensor, labels: Tensor, ignoreIndex = IGNORE_INDEX): Tensor {
  const [B, L, V] = logits.shape as [number, number, number];
  if (labels.ndim !== 2 || labels.size(0) !== B || labels.size(1) !== L)
    throw new ArgumentError(`labels [${labels.shape}] must match the logits' [batch, seq] = [${B}, ${L}]`);
  return tidy(() => {
    const shifted = logits.slice(1, 0, L - 1).reshape(-1, V);
    // the trainer hands forward the batch as loaded: its labels may still be on the CPU
    const onDevice = labels.device === logits.device ? labels : labels.to({ device: logits.device });
    const target = onDevice.slice(1, 1).reshape(-1).to('int64');
    const sum = crossEntropy(shifted.dtype === 'float32' ? shifted : shifted.float(), target, {
      ignoreIndex,
      reduction: 'sum',
    });
    return sum.div(target.ne(ignoreIndex).sum().clamp(1));
  });
}

export interface CausalLMStepOptions {
  /** the output layer and loss in fp32 outside autocast (default true) */
  fp32Head?: boolean;
  /** recompute each block's activations in backward instead of keeping them (default false) */
  gradientCheckpointing?: boolean;
}

const inputsOf = (input: BatchInput): DecoderInputs => {
  if (Array.isArray(input) || !('inputIds' in input))
    throw new ArgumentError('a causal-LM batch has named inputs { inputIds, attentionMask }');
  return input as DecoderInputs;
};

/** The output layer on hidden states h, in fp32 with autocast off (a bf16 or tied weight is used as fp32). */
export function fp32Head(run: Pick<DecoderRun, 'head'>, h: Tensor): Tensor {
  const device = h.device.startsWith('cuda') ? 'cuda' : 'cpu';
  return autocast(
    () =>
      tidy(() => {
        const head = run.head;
        const x = h.dtype === 'float32' ? h : h.float();
        if (head.weight.dtype === 'float32') return head.call(x) as Tensor;
        return F.linear(x, head.weight.float(), head.bias?.float());
      }),
    { device, enabled: false },
  );
}

function plainLogits(run: DecoderRun, o: CausalLMStepOptions): Tensor {
  return tidy(() => {
    let h = run.embed();
    for (let i = 0; i < run.blocks.length; i++) h = run.block(i, h);
    h = run.final(h);
    return (o.fp32Head ?? true) ? fp32Head(run, h) : (run.head.call(h) as Tensor);
  });
}

const trainable = (mods: Module[]): Parameter[] => {
  const seen = new Set<Parameter>();
  for (const m of mods) for (const p of m.parameters()) if (p.requiresGrad) seen.add(p);
  return [...seen];
};

/**
 * Gradient checkpointing without a custom autograd function (the addon has none): the forward runs
 * the blocks without a graph, keeping only each block's input; the loss is taken on the last one;
 * then, block by block from the top, the block is recomputed with a graph and torch.autograd.grad
 * carries the gradient one block down. The parameter gradients found that way come back through a
 * surrogate, loss + sum(p * g_p) - sum(p * g_p).detach(): its value is the loss and its backward
 * puts exactly g_p (times whatever the loss is scaled by: accumulation weights, a grad scaler) into
 * p.grad. Peak memory: the block inputs plus one block's activations, plus the head's. Dropout
 * draws the same masks in the recompute (each block reseeds libtorch's generator with its own seed).
 */
function checkpointed(run: DecoderRun, labels: Tensor, o: CausalLMStepOptions): { logits: Tensor; loss: Tensor } {
  const n = run.blocks.length;
  const seeds = noGrad(() => Array.from({ length: n }, () => Math.floor(rand([1]).item() * 2 ** 31)));
  const grads = new Map<Parameter, Tensor>();
  const add = (ps: Parameter[], gs: (Tensor | undefined)[]) =>
    ps.forEach((p, k) => {
      const g = gs[k];
      if (!g) return;
      const had = grads.get(p);
      grads.set(p, had ? had.add(g) : g);
    });
  return tidy(() => {
    const h0 = run.embed();
    const inputs: Tensor[] = [h0.detach()];
    noGrad(() => {
      for (let i = 0; i < n; i++) {
        manualSeed(seeds[i]!);
        inputs.push(run.block(i, inputs[i]!));
      }
    });
    // weights autocast cast under noGrad have no graph: the recompute must cast them again
    clearAutocastCache();
    const top = inputs[n]!.detach().requiresGrad_(true);
    const logits = (o.fp32Head ?? true) ? fp32Head(run, run.final(top)) : (run.head.call(run.final(top)) as Tensor);
    const loss = causalLMTokenLoss(logits, labels);
    const headParams = trainable([...run.finalModules, run.head]);
    let [gOut, ...gHead] = grad(loss, [top, ...headParams], { allowUnused: true, retainGraph: false });
    add(headParams, gHead);
    for (let i = n - 1; i >= 0 && gOut; i--) {
      const params = trainable([run.blocks[i]!]);
      const g = gOut;
      // one block's graph at a time: tidy frees it (the recomputed activations) before the next
      const [gIn, ...gp] = tidy(() => {
        const hIn = inputs[i]!.detach().requiresGrad_(true);
        manualSeed(seeds[i]!);
        const out = run.block(i, hIn);
        return grad(out, [hIn, ...params], { gradOutputs: [g], allowUnused: true });
      });
      add(params, gp);
      gOut = gIn;
    }
    const embedParams = trainable(run.embedModules);
    if (gOut && embedParams.length) add(embedParams, grad(h0, embedParams, { gradOutputs: [gOut], allowUnused: true }));
    let surrogate = loss.detach();
    if (grads.size) {
      const terms = [...grads].map(([p, g]) => p.mul(g.detach()).sum());
      const s = terms.reduce((a, b) => a.add(b));
      surrogate = surrogate.add(s.sub(s.detach()));
    }
    return { logits: logits.detach(), loss: surrogate };
  });
}

/** The trainer's forward for causal LMs: logits in fp32 from the output layer, checkpointed blocks. */
export function causalLMForward(o: CausalLMStepOptions = {}): ForwardFn {
  return (model: Module, input: BatchInput, batch: Batch) => {
    const x = inputsOf(input);
    const run = decoderRun(model, x);
    if (!run) {
      if (o.gradientCheckpointing)
        throw new ArgumentError(
          `gradient checkpointing needs the parts of ${model.constructor.name}`,
          'GPT-2 and Llama-family models have them; other models: registerDecoderParts()',
        );
      const attn = x.attentionMask ? { attentionMask: x.attentionMask } : {};
      return (model.call as (i: unknown, o: unknown) => unknown)(x.inputIds, attn);
    }
    if (o.gradientCheckpointing && isGradEnabled() && model.training && batch.target)
      return checkpointed(run, batch.target, o);
    return { logits: plainLogits(run, o) };
  };
}

/** The trainer's loss for causal LMs: the loss the forward already took (checkpointing), else the token loss. */
export const causalLMLossFn: LossFn = (output, target) => {
  const out = output as { logits?: Tensor; loss?: Tensor };
  if (out.loss) return out.loss;
  if (!out.logits || !target) throw new ArgumentError('the causal-LM loss needs logits and labels');
  return causalLMTokenLoss(out.logits, target);
};

export { hasDecoderParts };
