"""The backend contract on every device: copies, synchronize, allocation sizes, views and in-place writes."""

import pytest

from tensorswitch.testing import contract


@pytest.mark.parametrize("check", sorted(contract.CHECKS))
def test_contract(device, check):
    contract.CHECKS[check](device)
