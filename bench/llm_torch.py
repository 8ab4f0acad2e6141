# PyTorch side of bench/llm.ts: the same Llama-style model (the plain-PyTorch LlamaForCausalLM of
# scripts/fixtures/llama_fixtures.py: Hugging Face's module tree and maths), the same sizes, AdamW
# and per-step work as graft's trainer (loss.item()), and greedy generation with the legacy KV
# cache. Reads "MODE STEPS" lines (MODE: full, lora, generate), answers one JSON line each, so the
# two sides can take turns.
import json
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts', 'fixtures'))
from llama_fixtures import LlamaForCausalLM  # noqa: E402
from llama_generate_fixtures import generate  # noqa: E402

threads, cfg = int(sys.argv[1]), json.loads(sys.argv[2])
# the clock bench/llm.ts asked for: this process's CPU time, or wall time
clock = time.process_time if len(sys.argv) > 3 and sys.argv[3] == 'cpu' else time.perf_counter
torch.set_num_threads(threads)
B, L, PROMPT, NEW, R = cfg['batch'], cfg['seq'], cfg['prompt'], cfg['new_tokens'], cfg['lora_r']
C = {
    'model_type': 'llama', 'rms_norm_eps': 1e-6, 'rope_theta': 10000.0, 'hidden_act': 'silu',
    'tie_word_embeddings': False, 'attention_bias': False, **cfg['config'],
}


class LoraLinear(nn.Module):
    """PEFT's LoRA forward: base(x) + B(A(dropout(x))) * alpha / r, base frozen."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


def setup(mode):
    torch.manual_seed(0)
    model = LlamaForCausalLM(C)
    x = torch.randint(0, C['vocab_size'], (B, L))
    if mode == 'generate':
        model.eval()
        prompt = x[:1, :PROMPT]
        mask = torch.ones_like(prompt)

        def gen():
            generate(model, prompt, mask, {'max_new_tokens': NEW}, use_cache=True)
            return NEW
        return gen
    if mode == 'lora':
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in model.model.layers:
            layer.self_attn.q_proj = LoraLinear(layer.self_attn.q_proj, R, 2 * R)
            layer.self_attn.v_proj = LoraLinear(layer.self_attn.v_proj, R, 2 * R)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, labels=x)
        loss.backward()
        opt.step()
        loss.item()
        return B * L
    step()
    return step


steps_of = {}
print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    parts = line.split()
    if not parts:
        continue
    mode, n = parts[0], int(parts[1])
    if mode not in steps_of:
        steps_of[mode] = setup(mode)
    run = steps_of[mode]
    t0 = clock()
    tokens = sum(run() for _ in range(n))
    print(json.dumps({'mode': mode, 'tok_s': tokens / (clock() - t0) if n else 0}), flush=True)
