# PyTorch side of bench/frozen_cache.ts: naive frozen-backbone training as a user writes it. Every
# epoch runs the whole ResNet-18 backbone (eval mode, under no_grad) over the data, then trains fc.
# Reads "epochs K" lines from stdin and answers one JSON line with each epoch's seconds.
import json, sys, time
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, TensorDataset

threads, n, size, batch = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
CLASSES = 10

torch.manual_seed(0)
model = torchvision.models.resnet18(num_classes=CLASSES)
for name, p in model.named_parameters():
    p.requires_grad_(name.startswith("fc."))
backbone = torch.nn.Sequential(*list(model.children())[:-1])
data = TensorDataset(torch.randn(n, 3, size, size), torch.randint(0, CLASSES, (n,)))
loader = DataLoader(data, batch_size=batch, shuffle=True)
opt = torch.optim.SGD(model.fc.parameters(), lr=0.01, momentum=0.9)


def epoch():
    backbone.eval()  # frozen BatchNorm: running statistics fixed
    model.fc.train()
    t0 = time.perf_counter()
    for x, y in loader:
        with torch.no_grad():
            f = torch.flatten(backbone(x), 1)
        out = model.fc(f)
        loss = F.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
    return time.perf_counter() - t0


print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    parts = line.split()
    if not parts:
        continue
    k = int(parts[1])
    print(json.dumps({"seconds": [epoch() for _ in range(k)]}), flush=True)
