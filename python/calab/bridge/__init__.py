"""Local HTTP bridge between Python and the CaTune / CaDecon browser apps.

:func:`tune` (CaTune) and :func:`decon` (CaDecon) are the entry points; :class:`BridgeServer`
and :class:`BridgeSession` are the parts (protocol: ``schemas/bridge-protocol.json``).
"""

from __future__ import annotations

from ._api import TuneResult, run_session, tune
from ._decon import decon
from .server import BridgeServer
from .session import BridgeSession

__all__ = ["BridgeServer", "BridgeSession", "TuneResult", "decon", "run_session", "tune"]
