# PyTorch side of bench/data_loader.ts: torchvision's ImageFolder + DataLoader with the same
# transforms (RandomResizedCrop + RandomHorizontalFlip + ToTensor + Normalize), batch size and
# num_workers as graft's loader. Commands "ROOT,CROP,WORKERS EPOCHS" on stdin; one JSON line each
# ({"img_s": ..., "cpu_us": process CPU microseconds per image, all threads of this process}) for the
# timed epochs after a warm-up epoch (which starts the persistent workers).
import json, sys, time
import torch
import torchvision
from torch.utils.data import DataLoader
from torchvision import datasets, transforms as T

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
loaders = {}


def loader(root, crop, workers):
    key = (root, crop, workers)
    if key not in loaders:
        tf = T.Compose([T.RandomResizedCrop(crop), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])
        ds = datasets.ImageFolder(root, transform=tf)
        loaders[key] = DataLoader(ds, batch_size=32, shuffle=True, num_workers=workers,
                                  persistent_workers=workers > 0)
        for _ in loaders[key]:  # warm-up: worker start, page cache
            pass
    return loaders[key]


print(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__, "threads": threads}), flush=True)
for line in sys.stdin:
    mode, n = line.split()
    root, crop, workers = mode.split(",")
    dl = loader(root, int(crop), int(workers))
    seen = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(int(n)):
        for x, y in dl:
            seen += x.shape[0]
    cpu = time.process_time() - c0
    print(json.dumps({"img_s": seen / (time.perf_counter() - t0), "cpu_us": cpu / seen * 1e6}), flush=True)
