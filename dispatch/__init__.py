"""The core of tensorswitch: devices, dtypes, the tensor, the registry and the dispatcher."""
