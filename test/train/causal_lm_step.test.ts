// The causal-LM step: the loss shifts once and averages over tokens; the model run part by part
// gives the model's own logits; the output layer stays fp32 under bf16 autocast (tied head too);
// gradient checkpointing gives the gradients of the plain backward.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as models from '../../src/models/index.ts';
import type { Module } from '../../src/nn/index.ts';
import { autocast, manualSeed, type Tensor, tensor, tidy } from '../../src/tensor/index.ts';
import { causalLMForward, causalLMLossFn, causalLMTokenLoss, decoderRun } from '../../src/train/index.ts';

const config = { vocab_size: 40, n_positions: 16, n_embd: 16, n_layer: 3, n_head: 2 };
const noDropout = { ...config, resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0 };

function tinyGpt2(cfg: Record<string, unknown> = noDropout): models.GPT2LMHeadModel {
  manualSeed(0);
  return models.create('gpt2', { config: cfg }) as models.GPT2LMHeadModel;
}

// grouped-query attention, untied head
function tinyLlama(tied = false): models.LlamaForCausalLM {
  manualSeed(0);
  return models.llama({
    vocab_size: 40,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 3,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    tie_word_embeddings: tied,
  });
}
const MODELS: [string, () => Module][] = [
  ['gpt2', () => tinyGpt2()],
  ['llama', () => tinyLlama()],
  ['llama (tied)', () => tinyLlama(true)],
];

const ids = () =>
  tensor(
    [
      [1, 5, 7, 9, 3, 2],
      [4, 4, 8, 0, 0, 0],
    ],
    { dtype: 'int64' },
  );
const mask = () =>
  tensor(
    [
      [1, 1, 1, 1, 1, 1],
      [1, 1, 1, 0, 0, 0],
    ],
    { dtype: 'int64' },
  );
const labels = () =>
  tensor(
    [
      [1, 5, 7, 9, 3, 2],
      [-100, -100, 8, -100, -100, -100],
    ],
    { dtype: 'int64' },
  );

const close = (a: Tensor, b: Tensor, tol = 1e-5) =>
  assert.ok(a.sub(b).abs().max().item() <= tol * (1 + b.abs().max().item()), `max diff ${a.sub(b).abs().max().item()}`);

test("the token loss equals transformers' causal-LM loss and is 0 (not NaN) without targets", () => {
  tidy(() => {
    const logits = tensor(
      Array.from({ length: 2 * 6 * 40 }, (_, i) => Math.sin(i)),
      { shape: [2, 6, 40] },
    );
    close(causalLMTokenLoss(logits, labels()), models.causalLMLoss(logits, labels()));
    const none = tensor([[1, -100, -100, -100, -100, -100]], { dtype: 'int64' });
    assert.equal(causalLMTokenLoss(logits.narrow(0, 0, 1), none).item(), 0);
  });
});

for (const [name, make] of MODELS)
  test(`${name}: run part by part it gives its own logits; the head stays fp32 under bf16 autocast`, () => {
    const m = make();
    m.eval();
    tidy(() => {
      const input = { inputIds: ids(), attentionMask: mask() };
      const own = (m.call(input.inputIds, { attentionMask: input.attentionMask }) as { logits: Tensor }).logits;
      const fwd = causalLMForward({ fp32Head: false });
      const parts = (fwd(m, input, { input }) as { logits: Tensor }).logits;
      close(parts, own);
      const amp = autocast(() => (causalLMForward()(m, input, { input }) as { logits: Tensor }).logits);
      assert.equal(amp.dtype, 'float32', 'fp32 logits from the tied head under autocast');
      const plain = autocast(
        () => (causalLMForward({ fp32Head: false })(m, input, { input }) as { logits: Tensor }).logits,
      );
      assert.equal(plain.dtype, 'bfloat16', 'without fp32Head the head runs in bf16');
      close(amp, own, 0.05);
      assert.ok(decoderRun(m, input), 'GPT-2 has decoder parts');
    });
    m.dispose();
  });

function grads(m: Module, checkpointing: boolean, amp = false): Map<string, number[]> {
  const input = { inputIds: ids(), attentionMask: mask() };
  const target = labels();
  m.train();
  m.zeroGrad();
  tidy(() => {
    const step = () => {
      const out = causalLMForward({ gradientCheckpointing: checkpointing })(m, input, { input, target });
      return causalLMLossFn(out, target, { input, target });
    };
    const loss = amp ? autocast(step) : step();
    loss.mul(3).backward(); // a scaled loss, as accumulation and grad scalers do
  });
  const out = new Map<string, number[]>();
  for (const [k, p] of m.namedParameters()) out.set(k, p.grad ? [...(p.grad.data() as Float32Array)] : []);
  return out;
}

for (const [name, make] of MODELS)
  test(`${name}: gradient checkpointing gives the plain gradients (frozen parts, bf16 autocast)`, () => {
    const m = make();
    const plain = grads(m, false);
    const ckpt = grads(m, true);
    for (const [k, g] of plain) {
      const c = ckpt.get(k)!;
      assert.equal(c.length, g.length, k);
      const scale = Math.max(1e-6, ...g.map(Math.abs));
      assert.ok(
        g.every((v, i) => Math.abs(v - c[i]!) <= 1e-5 * scale),
        `${k}: gradients differ`,
      );
    }
    // frozen blocks and embeddings: only the rest gets gradients, still the same
    const top = /\.(h|layers)\.2\./;
    for (const [k, p] of m.namedParameters()) if (!top.test(k)) p.requiresGrad = false;
    const a = grads(m, false);
    const b = grads(m, true);
    for (const [k, g] of a) assert.deepEqual(b.get(k)!.length, g.length, k);
    assert.ok([...b].filter(([, g]) => g.length).every(([k]) => top.test(k)));
    for (const p of m.parameters()) p.requiresGrad = true;
    // bf16 rounds differently in the recompute: both stay within bf16 noise (~1%) of each other
    const ap = grads(m, false, true);
    const ac = grads(m, true, true);
    for (const [k, g] of ap) {
      const c = ac.get(k)!;
      const err = Math.sqrt(g.reduce((s, v, i) => s + (v - c[i]!) ** 2, 0) / g.reduce((s, v) => s + v * v, 1e-30));
      assert.ok(err < 0.05, `${k}: autocast gradients differ by ${err}`);
    }
    m.dispose();
  });

test('with dropout, checkpointing replays the same masks in the recompute', () => {
  const m = tinyGpt2({ ...config, resid_pdrop: 0.3, attn_pdrop: 0.3, embd_pdrop: 0 });
  // the same batch seed twice: the loss value of plain and checkpointed differ (other masks),
  // but the checkpointed gradients must be those of its own forward: finite and repeatable
  manualSeed(7);
  const a = grads(m, true);
  manualSeed(7);
  const b = grads(m, true);
  for (const [k, g] of a) assert.deepEqual(b.get(k), g, k);
  m.dispose();
});
