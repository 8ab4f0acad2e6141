// A Llama-style causal LM in graft against the same model in plain PyTorch (/usr/bin/python3,
// scripts/fixtures/llama_fixtures.py's LlamaForCausalLM), taking turns in one run:
//   full      a training step through graft's Trainer (causal-LM forward + token loss, AdamW), every weight
//   lora      the same with LoRA (r 8) on q_proj and v_proj, everything else frozen
//   generate  greedy decoding of new tokens with the KV cache, batch 1
// Tokens per second: training counts batch x sequence tokens, generation the new tokens.
// Usage: node --import tsx bench/llm.ts   (GRAFT_BENCH_THREADS=2, GRAFT_BENCH_REPEATS=4,
// GRAFT_BENCH_SIZE=small | tiny for a smoke run, GRAFT_BENCH_MODES=generate to run some rows only,
// GRAFT_BENCH_CLOCK=cpu to time each side by its process CPU time instead of wall time: the fairer
// clock while other work shares the machine)
import { applyLora } from '../src/finetune/index.ts';
import * as models from '../src/models/index.ts';
import { AdamW } from '../src/optim/index.ts';
import { manualSeed, noGrad, randint, setNumThreads, type Tensor, torchVersion } from '../src/tensor/index.ts';
import { causalLMForward, causalLMLossFn, Trainer } from '../src/train/index.ts';
import { startTorchSide } from './_torch_side.ts';

const threads = Number(process.env.GRAFT_BENCH_THREADS ?? 2);
const repeats = Number(process.env.GRAFT_BENCH_REPEATS ?? 4);
const tiny = process.env.GRAFT_BENCH_SIZE === 'tiny';
const cpuClock = process.env.GRAFT_BENCH_CLOCK === 'cpu';
/** seconds on the chosen clock: process CPU time (user + system) or wall time */
const now = (): number => {
  if (!cpuClock) return performance.now() / 1000;
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
setNumThreads(threads);
const SIZES = tiny
  ? {
      batch: 2,
      seq: 32,
      prompt: 8,
      new_tokens: 8,
      lora_r: 4,
      config: {
        vocab_size: 256,
        hidden_size: 32,
        intermediate_size: 86,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 128,
      },
    }
  : {
      batch: 8,
      seq: 128,
      prompt: 16,
      new_tokens: 48,
      lora_r: 8,
      config: {
        vocab_size: 4096,
        hidden_size: 256,
        intermediate_size: 688,
        num_hidden_layers: 4,
        num_attention_heads: 8,
        num_key_value_heads: 4,
        max_position_embeddings: 512,
      },
    };
type Mode = 'full' | 'lora' | 'generate';
const ALL_MODES: [Mode, string, number][] = [
  ['full', 'train step, full', tiny ? 2 : 3],
  ['lora', 'train step, LoRA q,v', tiny ? 2 : 3],
  ['generate', 'generate (KV cache)', tiny ? 1 : 2],
];
const only = process.env.GRAFT_BENCH_MODES?.split(',');
const MODES = ALL_MODES.filter(([m]) => !only || only.includes(m));

function graftSide(mode: Mode): (n: number) => Promise<number> {
  manualSeed(0);
  const model = models.llama({ ...SIZES.config, rms_norm_eps: 1e-6, tie_word_embeddings: false });
  const x = randint(0, SIZES.config.vocab_size, [SIZES.batch, SIZES.seq]);
  if (mode === 'generate') {
    model.eval();
    const prompt = x.narrow(0, 0, 1).narrow(1, 0, SIZES.prompt);
    return async (n) => {
      const t0 = now();
      for (let i = 0; i < n; i++)
        noGrad(() => models.generate(model, prompt, { maxNewTokens: SIZES.new_tokens, eosTokenId: [] }).dispose());
      return n ? (n * SIZES.new_tokens) / (now() - t0) : 0;
    };
  }
  if (mode === 'lora')
    applyLora(model, { r: SIZES.lora_r, alpha: 2 * SIZES.lora_r, targetModules: ['q_proj', 'v_proj'] });
  const optimizer = new AdamW(
    [...model.parameters()].filter((p) => p.requiresGrad),
    { lr: 1e-4 },
  );
  const batch = (): { input: { inputIds: Tensor }; target: Tensor } => ({ input: { inputIds: x }, target: x });
  return async (n) => {
    const train = Array.from({ length: n }, batch);
    const t = new Trainer({
      model,
      optimizer,
      train,
      forward: causalLMForward(),
      loss: causalLMLossFn,
      task: 'causal-lm',
    });
    const t0 = now();
    await t.fit(1);
    return n ? (n * SIZES.batch * SIZES.seq) / (now() - t0) : 0;
  };
}

/** The PyTorch side: tokens per second of MODE over N steps. */
async function torchSide(): Promise<
  { run(mode: Mode, n: number): Promise<number>; close(): void; note: string } | string
> {
  const side = await startTorchSide(
    'llm_torch.py',
    [String(threads), JSON.stringify(SIZES), cpuClock ? 'cpu' : 'wall'],
    'python3-torch',
  );
  if (typeof side === 'string') return side;
  return { ...side, run: async (mode, n) => (await side.ask(mode, n)).tok_s };
}

const torch = await torchSide();
const best = Object.fromEntries(MODES.map(([m]) => [m, { graft: 0, torch: 0 }])) as Record<
  Mode,
  { graft: number; torch: number }
>;
const ours = new Map(MODES.map(([m]) => [m, graftSide(m)] as const));
for (const [m] of MODES) {
  await ours.get(m)!(1);
  if (typeof torch !== 'string') await torch.run(m, 1);
}
// turns: each side runs every mode `repeats` short times; the best of each is kept, since other load
// on the machine only ever slows a run down
for (let r = 0; r < repeats; r++)
  for (const [m, , n] of MODES) {
    if (typeof torch !== 'string') best[m].torch = Math.max(best[m].torch, await torch.run(m, n));
    best[m].graft = Math.max(best[m].graft, await ours.get(m)!(n));
  }
if (typeof torch !== 'string') torch.close();

const note = typeof torch === 'string' ? torch : torch.note;
const c = SIZES.config;
console.log(
  `Llama-style, ${c.num_hidden_layers} layers, hidden ${c.hidden_size}, ${c.num_attention_heads} heads / ${c.num_key_value_heads} kv, vocab ${c.vocab_size}; training batch ${SIZES.batch} x ${SIZES.seq} tokens, AdamW; generation: ${SIZES.prompt}-token prompt + ${SIZES.new_tokens} new, greedy`,
);
console.log(
  `graft on libtorch ${torchVersion()}, ${threads} threads; ${note}; best of ${repeats}, ${cpuClock ? 'process CPU' : 'wall'} time`,
);
console.log(`${'mode'.padEnd(24)}${'graft tok/s'.padStart(13)}${'torch tok/s'.padStart(13)}${'ratio'.padStart(8)}`);
for (const [m, label] of MODES) {
  const b = best[m];
  const ratio = b.torch ? (b.graft / b.torch).toFixed(2) : '-';
  console.log(
    `${label.padEnd(24)}${b.graft.toFixed(0).padStart(13)}${(b.torch ? b.torch.toFixed(0) : '-').padStart(13)}${ratio.padStart(8)}`,
  );
}
console.log('ratio = graft / PyTorch tokens per second (higher is better)');
