"""Old parameter names kept working, with a :class:`DeprecationWarning`, after a rename.

calab spells a concept one way in every public signature (``tau_rise``, ``tau_decay``,
``lambda_``); earlier releases also used ``tau_r``, ``tau_d`` and ``lam``. Relies on the standard
library only.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

#: The old spellings and the one each is now written as.
OLD_NAMES = {"tau_r": "tau_rise", "tau_d": "tau_decay", "lam": "lambda_",
             "lam_grid": "lambda_grid"}


def renamed_parameters(*old: str) -> Callable[[F], F]:
    """Accept the keyword arguments ``old`` (keys of :data:`OLD_NAMES`) as their new names.

    An old name warns (``DeprecationWarning``, pointing at the caller) and is passed on under
    its new one; giving both is a ``TypeError``, as for any argument given twice. Positional
    calls are unaffected, so the decorated function keeps its signature and order.
    """
    mapping = {name: OLD_NAMES[name] for name in old}

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for was, now in mapping.items():
                if was in kwargs:
                    if now in kwargs:
                        raise TypeError(f"{func.__name__}() got both {was!r} (the deprecated "
                                        f"name) and {now!r}; give only {now!r}")
                    warnings.warn(f"{func.__name__}(): the parameter {was!r} is now called "
                                  f"{now!r}; {was!r} will be removed in a future release",
                                  DeprecationWarning, stacklevel=2)
                    kwargs[now] = kwargs.pop(was)
            return func(*args, **kwargs)

        return cast(F, wrapper)

    return decorate
