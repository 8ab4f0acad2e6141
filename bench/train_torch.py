# PyTorch side of bench/train.ts: ResNet-18 fine-tune steps in three modes with the same sizes,
# threads and per-step work as graft's trainer (loss.item() and accuracy counts). Reads commands
# "MODE STEPS" from stdin, answers one JSON line each, so the two sides can take turns.
import json, sys, time
import torch
import torch.nn.functional as F
import torchvision

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
BATCH, SIZE, CLASSES, WARM = 16, 112, 10, 2


def setup(mode):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=CLASSES)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    y = torch.randint(0, CLASSES, (BATCH,))
    backbone = torch.nn.Sequential(*list(model.children())[:-1])
    if mode == "full":
        params = model.parameters()
    else:
        # frozen: requires_grad False, so backward stops at fc; features: the same, plus no_grad/eval
        for n, p in model.named_parameters():
            p.requires_grad_(n.startswith("fc."))
        params = model.fc.parameters()
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    model.train()
    if mode == "features":
        model.eval()

    def step():
        opt.zero_grad(set_to_none=True)
        if mode == "features":
            with torch.no_grad():
                f = torch.flatten(backbone(x), 1)
            out = model.fc(f)
        else:
            out = model(x)
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        loss.item()
        (out.argmax(1) == y).sum().item()

    for _ in range(WARM):
        step()
    return step


steps_of = {}
print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    parts = line.split()
    if not parts:
        continue
    mode, n = parts[0], int(parts[1])
    if mode not in steps_of:
        steps_of[mode] = setup(mode)
    step = steps_of[mode]
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    print(json.dumps({"mode": mode, "img_s": n * BATCH / (time.perf_counter() - t0)}), flush=True)
