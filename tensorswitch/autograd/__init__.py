"""``ts.autograd``: gradients of tensorswitch programs (define-by-run, as PyTorch's autograd).

    import tensorswitch as ts
    x = ts.asarray([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()           # x.grad is 2 * x
    ts.autograd.grad(y, x, retain_graph=True)

The derivative of each op is written once, in tensorswitch ops (``dispatch/derivatives.py``), so gradients run on the
tensors' own device, plugin backends included.  See Note [Autograd dispatch] in ``dispatch/autograd.py``.
"""

from ..dispatch.autograd import (Function, FunctionCtx, Node, Parameter, backward, enable_grad, grad,
                                 is_grad_enabled, no_grad, set_grad_enabled)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["Function", "FunctionCtx", "Node", "Parameter", "backward", "grad", "gradcheck", "gradgradcheck",
           "GradcheckError", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]
