"""``ts.nn``: neural network layers, losses and helpers with PyTorch's API, on every tensorswitch device.

    import tensorswitch as ts
    model = ts.nn.Sequential(ts.nn.Linear(4, 8), ts.nn.ReLU(), ts.nn.Linear(8, 2)).to("opencl")
    loss = ts.nn.functional.cross_entropy(model(x), y)

``ts.nn`` is a client of the public ``ts`` API only (STYLE.md section 6): every layer is a composition of ``ts``
ops, so its gradient comes from autograd and it runs on any device (plugins too) whose kernels cover those ops.
``ts.nn.Parameter`` is ``ts.autograd.Parameter``.
"""

from tensorswitch.autograd import Parameter

from . import functional, init, utils
from .activation import GELU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .containers import ModuleDict, ModuleList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

from . import functional as F

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "ModuleDict", "Linear", "Identity", "Conv2d",
           "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "ReLU", "GELU",
           "SiLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Dropout", "Embedding", "Flatten", "Unflatten",
           "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "functional",
           "init", "utils"]

