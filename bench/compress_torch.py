# PyTorch side of bench/compress.ts: the same models and sizes with torch.ao.quantization (dynamic
# int8 Linear, eager-mode static int8 ResNet-18 with fused conv+bn+relu and MinMax observers) and a
# ResNet-18 whose inner block convs are halved (what graft's lnShrink(0.5) leaves). Prints one JSON
# line: median milliseconds per forward and state-dict bytes of each model.
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
from torch.ao.quantization import (MinMaxObserver, QConfig, convert, default_per_channel_weight_observer, prepare,
                                   quantize_dynamic)
from torchvision.models.quantization import resnet18

threads, cfg = int(sys.argv[1]), json.loads(sys.argv[2])
torch.set_num_threads(threads)
RUNS = cfg['runs']


def ms(model, x):
    with torch.no_grad():
        model(x)
        times = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def nbytes(model):
    total = 0
    for v in model.state_dict().values():
        if isinstance(v, torch.Tensor):
            if v.is_quantized:
                total += v.numel() * v.element_size()
                if v.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
                    total += v.q_per_channel_scales().numel() * 16
                else:
                    total += 16
            else:
                total += v.numel() * v.element_size()
        elif isinstance(v, tuple):  # a linear's packed (weight, bias)
            for t in v:
                if isinstance(t, torch.Tensor):
                    total += t.numel() * t.element_size() + (16 if t.is_quantized else 0)
    return total


def mlp(h, layers):
    mods = []
    for _ in range(layers):
        mods += [nn.Linear(h, 4 * h), nn.ReLU(), nn.Linear(4 * h, h)]
    return nn.Sequential(*mods).eval()


out = {'torch': torch.__version__, 'engine': torch.backends.quantized.engine, 'threads': threads}
torch.manual_seed(0)
m = mlp(cfg['hidden'], cfg['layers'])
x = torch.randn(cfg['tokens'], cfg['hidden'])
out['dynamic'] = {'fp32': {'ms': ms(m, x), 'bytes': nbytes(m)}}
q = quantize_dynamic(m, {nn.Linear}, dtype=torch.qint8)
out['dynamic']['int8'] = {'ms': ms(q, x), 'bytes': nbytes(q)}

S, B = cfg['image'], cfg['batch']
net = resnet18(weights=None, quantize=False, num_classes=10).eval()
x = torch.randn(B, 3, S, S)
out['static'] = {'fp32': {'ms': ms(net, x), 'bytes': nbytes(net)}}
net.fuse_model()
net.qconfig = QConfig(activation=MinMaxObserver.with_args(reduce_range=True), weight=default_per_channel_weight_observer)
prepare(net, inplace=True)
with torch.no_grad():
    for _ in range(cfg['calibration']):
        net(torch.randn(B, 3, S, S))
convert(net, inplace=True)
out['static']['int8'] = {'ms': ms(net, x), 'bytes': nbytes(net)}

# the shrunk ResNet: every block's conv1 keeps half its output channels, bn1 and conv2 follow
small = resnet18(weights=None, quantize=False, num_classes=10).eval()
for name, mod in list(small.named_modules()):
    if hasattr(mod, 'conv1') and hasattr(mod, 'conv2') and hasattr(mod, 'bn2'):
        c = mod.conv1.out_channels
        k = c - round(cfg['shrink'] * c)
        mod.conv1 = nn.Conv2d(mod.conv1.in_channels, k, 3, mod.conv1.stride, 1, bias=False)
        mod.bn1 = nn.BatchNorm2d(k)
        mod.conv2 = nn.Conv2d(k, mod.conv2.out_channels, 3, 1, 1, bias=False)
small.eval()
out['shrunk'] = {'fp32': {'ms': ms(small, x), 'bytes': nbytes(small)}}
print(json.dumps(out))
