// A decoder-only language model seen as its parts: embeddings, the blocks one by one, the final
// norm and the output layer. The causal-LM step (causal_lm.ts) runs a model through these to keep
// the output layer in fp32 under autocast and to recompute blocks in backward (gradient
// checkpointing). Architectures add themselves with registerDecoderParts; GPT-2's is here, and
// Llama-family models with Hugging Face's module tree (model.embed_tokens, model.layers, model.norm,
// lm_head) are found by shape.
import { extendedAttentionMask, GPT2LMHeadModel, LlamaForCausalLM } from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import { arange, type Tensor, tidy } from '../tensor/index.ts';

/** One forward of a decoder, part by part; the block closures carry masks and positions. */
export interface DecoderRun {
  /** modules whose parameters embed() uses */
  embedModules: Module[];
  embed(): Tensor;
  blocks: Module[];
  /** runs block i on hidden states h */
  block(i: number, h: Tensor): Tensor;
  /** modules of the final norm */
  finalModules: Module[];
  final(h: Tensor): Tensor;
  /** the output layer (weight [vocab, hidden], maybe tied to the embeddings) */
  head: Module & { weight: Tensor; bias?: Tensor | undefined };
}

export type DecoderInputs = { inputIds: Tensor; attentionMask?: Tensor };
type PartsFn = (model: Module, x: DecoderInputs) => DecoderRun;
const registry: { test: (m: Module) => boolean; parts: PartsFn }[] = [];

/** Teaches the causal-LM step an architecture's parts (checked in order of registration). */
export function registerDecoderParts(test: (m: Module) => boolean, parts: PartsFn): void {
  registry.push({ test, parts });
}

/** The model's parts for these inputs, or undefined for an architecture nobody registered. */
export function decoderRun(model: Module, x: DecoderInputs): DecoderRun | undefined {
  const hit = registry.find((r) => r.test(model));
  return hit?.parts(model, x);
}

export function hasDecoderParts(model: Module): boolean {
  return registry.some((r) => r.test(model));
}

// GPT2Model.forward, part by part (test/train/causal_lm_parts checks it against model.call)
registerDecoderParts(
  (m) => m instanceof GPT2LMHeadModel,
  (model, x) => {
    const m = model as GPT2LMHeadModel;
    const t = m.transformer;
    const [B, L] = x.inputIds.shape as [number, number];
    // made in the caller's scope (the batch's tidy) so it lives as long as the run
    const blocks = [...t.h];
    const mask = x.attentionMask ? extendedAttentionMask(x.attentionMask.view(B, -1), t.wte.weight.dtype) : undefined;
    return {
      embedModules: [t.wte, t.wpe, t.drop],
      embed: () =>
        tidy(() => {
          const pos = arange(L, undefined, 1, { device: x.inputIds.device }).unsqueeze(0);
          return t.drop.call(t.wte.call(x.inputIds).add(t.wpe.call(pos)));
        }),
      blocks,
      block: (i, h) => blocks[i]!.call(h, mask),
      finalModules: [t.ln_f],
      final: (h) => t.ln_f.call(h),
      head: m.lm_head,
    };
  },
);

// LlamaModel.forward without a cache, part by part (Llama 2/3, Mistral, Qwen2)
registerDecoderParts(
  (m) => m instanceof LlamaForCausalLM,
  (model, x) => {
    const m = model as LlamaForCausalLM;
    const inner = m.model;
    const [, L] = x.inputIds.shape as [number, number];
    const device = x.inputIds.device;
    const dtype = inner.embed_tokens.weight.dtype;
    // made in the caller's scope (the batch's tidy) so they live as long as the run
    const ctx = inner.layerContext(L, 0, dtype, device, { attentionMask: x.attentionMask });
    const blocks = [...inner.layers];
    return {
      embedModules: [inner.embed_tokens],
      embed: () => inner.embed_tokens.call(x.inputIds),
      blocks,
      block: (i, h) => blocks[i]!.call(h, ctx).hidden,
      finalModules: [inner.norm],
      final: (h) => inner.norm.call(h),
      head: m.lm_head,
    };
  },
);
