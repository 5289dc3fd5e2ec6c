"""ts.optim: optimisers and learning rate schedulers, matching ``torch.optim`` step for step.

    import tensorswitch as ts
    opt = ts.optim.Adam(model.parameters(), lr=1e-3)
    sched = ts.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    for epoch in range(100):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        sched.step()

Optimisers update parameters in place under ``ts.no_grad()``; their state (momentum buffers, moment estimates)
lives on each parameter's device, in its dtype.  ``state_dict()`` has PyTorch's layout and key names, and
``ts.save`` / ``ts.load`` store it.
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer, required
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler", "required"]
