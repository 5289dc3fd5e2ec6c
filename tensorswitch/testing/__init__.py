"""Testing tools for backends: the NumPy references, the shared sample database and the conformance suite.

    python -m tensorswitch.conformance --device DEVICE
    pytest --pyargs tensorswitch.testing --ts-device DEVICE
"""
