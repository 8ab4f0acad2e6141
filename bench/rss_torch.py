# PyTorch side of the RSS row (bench/_rss_graft.ts has graft's): the same small conv net, batch and
# optimizer; "rss:any N" runs N steps -> {"rss": [...]}, the resident bytes (/proc/self/statm) every
# RSS_EVERY steps, as bench/_rss_graft.ts samples graft's.
# Usage: python3 bench/rss_torch.py THREADS
import json, os, sys
import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
)
x = torch.randn(8, 3, 32, 32)
y = torch.randint(0, 10, (8,))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
PAGE = os.sysconf("SC_PAGE_SIZE")
RSS_EVERY = 20


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def step():
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    parts = line.split()
    if not parts:
        continue
    n = int(parts[1])
    samples = []
    for i in range(1, n + 1):
        step()
        if i % RSS_EVERY == 0:
            samples.append(rss())
    print(json.dumps({"rss": samples}), flush=True)
