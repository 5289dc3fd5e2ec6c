"""``RemovableHandle``: what the ``register_*_hook`` methods of ts.nn and ts.optim return (as ``torch.utils.hooks``)."""

import itertools

__all__ = ["RemovableHandle"]


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods; ``handle.remove()`` unregisters the hook (also as a context
    manager: the hook is removed on leaving the ``with`` block).  ``hooks`` is the dict the hook was put in, under
    ``handle.id``."""

    _ids = itertools.count()

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
