# PyTorch side of the demo row of `npm run bench` (bench/all.ts demo()): `npm run demo`'s recipe
# (examples/fashion_mnist.ts) in PyTorch 1.13 with torchvision's mobilenet_v2. bench/_demo_graft.ts
# writes what graft's side starts from into DIR: both models' initial state dicts (graft's torch.save
# writer: the nsfwjs ImageNet weights and the random init, so both sides start from the same
# numbers) and recipe.json (data subset, batch size, AdamW and its 12 parameter groups, each phase's
# frozen parameters and OneCycleLR, the shuffle order of each epoch, the seed graft's trainer sets
# before each batch). Then both runs (pretrained, scratch), each a head-only epoch and an all-layers
# epoch with an evaluation after each, timed per phase.
# The two sides run the same kernels from the same start, but summation order inside threaded
# kernels and the order of float updates differ, so losses and accuracies agree closely, not bit
# for bit. graft's side also writes its run folder (checkpoints, metrics, report); this side
# writes nothing.
# Usage: /usr/bin/python3 bench/demo_torch.py DIR [THREADS]   -> one JSON line at the end
import gzip, json, os, sys, time
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torchvision import transforms as T

src = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads)
R = json.load(open(os.path.join(src, "recipe.json")))
D = R["data"]


def idx(path):
    # the IDX files graft reads (magic, dims, then uint8 data)
    raw = gzip.open(path).read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def split(prefix, n):
    x = idx(os.path.join(D["dir"], prefix + "-images-idx3-ubyte.gz"))[:n]
    y = idx(os.path.join(D["dir"], prefix + "-labels-idx1-ubyte.gz"))[:n]
    return x, torch.from_numpy(y.astype(np.int64))


class Images(torch.utils.data.Dataset):
    # the demo's transforms, Pillow's resampling as graft's (graft reproduces Pillow's)
    tf = T.Compose([T.Grayscale(3), T.Resize((D["size"], D["size"])), T.ToTensor(), T.Normalize([0.5], [0.5])])

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.tf(Image.fromarray(self.x[i], mode="L")), self.y[i]


train_set = Images(*split("train", D["train"]))
test_set = Images(*split("t10k", D["test"]))


def build(name):
    model = torchvision.models.mobilenet_v2(num_classes=10)
    # graft's models.useKerasConventions: Keras's BN epsilon and TensorFlow's 'same' padding on stride 2
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = R["keras"]["bnEps"]
        if isinstance(m, torch.nn.Conv2d) and 2 in m.stride:
            assert m.padding == (1, 1), m.padding
            m.padding = (0, 0)
            m.register_forward_pre_hook(lambda _m, a: (F.pad(a[0], (0, 1, 0, 1)),))
    model.load_state_dict(torch.load(os.path.join(src, name + ".pth")), strict=True)
    return model


def evaluate(model):
    model.eval()
    right = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(test_set, batch_size=D["evalBatch"]):
            right += (model(x).argmax(1) == y).sum().item()
    model.train()
    return right / len(test_set)


def run(name):
    model = build(name)
    params = dict(model.named_parameters())
    o = R["optimizer"]
    opt = torch.optim.AdamW(
        [{"params": [params[p] for p in g["params"]], "weight_decay": g["weight_decay"]} for g in R["groups"]],
        lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weight_decay"],
    )
    steps = R["stepsPerEpoch"]
    phases = []
    epoch = 0
    for ph in R["phases"]:
        t0 = time.perf_counter()
        frozen = set(ph["frozen"])
        for n, p in params.items():
            p.requires_grad_(n not in frozen)
        for g, lr in zip(opt.param_groups, ph["maxLr"]):
            g["lr"] = lr
        s = ph["scheduler"]
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=ph["maxLr"], total_steps=steps * ph["epochs"], pct_start=s["pct_start"],
            div_factor=s["div_factor"], final_div_factor=s["final_div_factor"],
            base_momentum=s["base_momentum"], max_momentum=s["max_momentum"],
        )
        model.train()  # bn 'train': BatchNorm in frozen parts keeps training, as fastai's train_bn
        losses = []
        for _ in range(ph["epochs"]):
            order = R["orders"][epoch]
            sampler = torch.utils.data.BatchSampler(order, D["batch"], drop_last=True)
            for b, (x, y) in enumerate(torch.utils.data.DataLoader(train_set, batch_sampler=sampler)):
                torch.manual_seed(R["batchSeeds"][epoch][b])  # dropout's mask, as graft's trainer seeds it
                out = model(x)
                loss = F.cross_entropy(out, y)
                losses.append(loss.item())
                (out.argmax(1) == y).sum().item()
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                sched.step()
            acc = evaluate(model)
            epoch += 1
        phases.append({"phase": ph["name"], "seconds": time.perf_counter() - t0, "loss": sum(losses) / len(losses), "accuracy": acc})
    return {"accuracy": phases[-1]["accuracy"], "seconds": sum(p["seconds"] for p in phases), "phases": phases}


t0 = time.perf_counter()
res = {"torch": torch.__version__, "threads": torch.get_num_threads(), "runs": {}}
for name in ("pretrained", "scratch"):
    r = run(name)
    res["runs"][name] = r
    print("%-10s %s test accuracy %.4f  %.1f s" % (name, "  ".join("%s %.1f s loss %.4f acc %.4f" % (p["phase"], p["seconds"], p["loss"], p["accuracy"]) for p in r["phases"]), r["accuracy"], r["seconds"]), flush=True)
res["seconds"] = time.perf_counter() - t0
print(json.dumps(res), flush=True)
