"""timm's EfficientNet-B0 with stochastic depth throughout (drop_path_rate 0.2), exported as each
PyTorch exports it, for #38's measurement against the floor (docs/performance.md). Not part of the
tests or of `npm run bench`, which build their models in TypeScript; the models are 21 MB each and
not committed.

    /usr/bin/python3 scripts/effnet_b0_depth.py OUT_DIR   # torch 1.13, TorchScript: effnet_b0_torch113.onnx
    VENV/bin/python scripts/effnet_b0_depth.py OUT_DIR    # torch 2.13, dynamo: effnet_b0_dynamo.onnx

torch 1.13 cannot export timm's bernoulli_, so there timm's drop_path is the F.dropout-on-ones form
a user of torch 1.13 writes (the same distribution: 0 or 1/keep per sample). timm imports
torchvision, which Debian's torch 1.13 lacks; the few names timm reads from it at import are stubbed
(none is used by EfficientNet-B0). Weights are random (seed 0): speed does not depend on them.
"""
import importlib.abc
import importlib.machinery
import os
import sys
import types

import torch

MODERN = torch.__version__ >= '2'


class _Name(type):
    def __getattr__(cls, name):
        return name


class _Stub(torch.nn.Module, metaclass=type('StubMeta', (_Name, type(torch.nn.Module)), {})):
    pass


class _StubTorchvision(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == 'torchvision' or name.startswith('torchvision.'):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = lambda attr: _Stub
        return module

    def exec_module(self, module):
        pass


if not MODERN:
    sys.meta_path.insert(0, _StubTorchvision())
else:
    # torchvision's wheel here is a CUDA build: fixtures/torch_cpu.py lets it import on CPU torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures'))
    from torch_cpu import allow_cpu_torchvision

    allow_cpu_torchvision()

import timm  # noqa: E402
import timm.layers.drop  # noqa: E402


def drop_path_torch113(x, drop_prob=0.0, training=False, scale_by_keep=True):
    if drop_prob == 0.0 or not training:
        return x
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    return x * torch.nn.functional.dropout(torch.ones(shape, dtype=x.dtype), drop_prob, True)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    if not MODERN:
        timm.layers.drop.drop_path = drop_path_torch113
    torch.manual_seed(0)
    model = timm.create_model('efficientnet_b0', drop_path_rate=0.2, drop_rate=0.2).eval()
    for m in model.modules():
        if type(m).__name__ in ('DropPath', 'Dropout'):
            m.train()
    x = torch.randn(2, 3, 224, 224)
    if MODERN:
        path = os.path.join(out, 'effnet_b0_dynamo.onnx')
        torch.onnx.export(model, (x,), path, dynamo=True, external_data=False, dynamic_shapes=({0: torch.export.Dim('batch')},))
    else:
        path = os.path.join(out, 'effnet_b0_torch113.onnx')
        torch.onnx.export(model, x, path, opset_version=17, input_names=['x'], output_names=['logits'],
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                          dynamic_axes={'x': {0: 'batch'}, 'logits': {0: 'batch'}})
    print(path)


if __name__ == '__main__':
    main()
