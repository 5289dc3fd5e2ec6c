"""The examples in the docstrings of the training stack run as written (STYLE: a short example that runs)."""

import doctest
import importlib

import pytest

MODULES = ["tensorswitch.dispatch.autograd", "tensorswitch.autograd.gradcheck", "tensorswitch.dispatch.nnops",
           "tensorswitch.nn.module", "tensorswitch.nn.functional", "tensorswitch.nn.init", "tensorswitch.optim.sgd",
           "tensorswitch.optim.adam", "tensorswitch.optim.rmsprop", "tensorswitch.optim.lr_scheduler",
           "tensorswitch.optim.optimizer", "tensorswitch.utils.data", "tensorswitch.serialization"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
