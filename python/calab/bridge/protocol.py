"""Wire format of the CaLab browser bridge: paths, limits, header names, error bodies, and the
small JSON Schema checker used to validate what the browser posts.

The protocol is described once, machine-readably, in ``schemas/bridge-protocol.json`` (message
shapes under ``$defs``, routes under ``endpoints``); the tests check this module and the server
against that file. The checker implements the subset of JSON Schema 2020-12 those schemas use, so
the bridge needs no third-party dependency at run time.
"""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._schema_files import load_schema as load_schema  # re-exported: callers use P.load_schema

API_PREFIX = "/api/v1"
TOKEN_HEADER = "X-CaLab-Token"
#: Largest accepted JSON body (bytes).
MAX_JSON_BYTES = 4 * 1024 * 1024
#: Largest accepted .npy body (bytes).
MAX_NPY_BYTES = 64 * 1024 * 1024
#: Seconds a request may take to arrive whole (line, headers, body), counted from its first byte.
REQUEST_TIMEOUT_S = 30.0
#: Seconds a kept-alive connection may wait for its next request before it is closed.
IDLE_TIMEOUT_S = 10.0
#: Connections served at once; more are answered 503 TOO_MANY_CONNECTIONS and closed.
MAX_CONNECTIONS = 32

#: (method, path) -> body kind ("json", "npy", "none") and the $defs entry the body must match.
ROUTES: dict[tuple[str, str], tuple[str, str | None]] = {
    ("GET", f"{API_PREFIX}/session"): ("none", None),
    ("GET", f"{API_PREFIX}/traces"): ("none", None),
    ("POST", f"{API_PREFIX}/heartbeat"): ("json", "heartbeat"),
    ("POST", f"{API_PREFIX}/progress"): ("json", "progress"),
    ("POST", f"{API_PREFIX}/export"): ("json", "export"),
    ("POST", f"{API_PREFIX}/results"): ("json", "results"),
    ("POST", f"{API_PREFIX}/activity"): ("npy", None),
    ("POST", f"{API_PREFIX}/cancel"): ("json", "cancel"),
}


class ProtocolError(Exception):
    """A request the bridge refuses; becomes an HTTP status and a JSON error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def protocol_schema() -> dict[str, Any]:
    return load_schema("bridge-protocol.json")


def export_schema() -> dict[str, Any]:
    return load_schema("catune-export.schema.json")


# --------------------------------------------------------------------------- schema checking

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
}


def schema_errors(instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None,
                  where: str = "$") -> list[str]:
    """Messages for every violation of ``schema`` (JSON Schema subset) by ``instance``."""
    root = schema if root is None else root
    out: list[str] = []
    ref = schema.get("$ref")
    if ref is not None:
        if ref.startswith("#/"):
            node: Any = root
            for part in ref[2:].split("/"):
                node = node[part]
            out += schema_errors(instance, node, root, where)
        elif ref == "catune-export.schema.json":
            out += schema_errors(instance, export_schema(), None, where)
        else:  # pragma: no cover - schemas only use the refs above
            raise ValueError(f"unsupported $ref {ref}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](instance) for t in types):
            return out + [f"{where}: expected {' or '.join(types)}, got {type(instance).__name__}"]
    if "const" in schema and instance != schema["const"]:
        out.append(f"{where}: must be {schema['const']!r}")
    if "enum" in schema and instance not in schema["enum"]:
        out.append(f"{where}: must be one of {schema['enum']}, got {instance!r}")
    if isinstance(instance, str):
        if "minLength" in schema and len(instance) < schema["minLength"]:
            out.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(instance) > schema["maxLength"]:
            out.append(f"{where}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            out.append(f"{where}: {instance!r} does not match {schema['pattern']}")
    if _TYPES["number"](instance):
        if isinstance(instance, float) and not math.isfinite(instance):
            out.append(f"{where}: must be finite")
        if "minimum" in schema and instance < schema["minimum"]:
            out.append(f"{where}: must be >= {schema['minimum']}, got {instance}")
        if "maximum" in schema and instance > schema["maximum"]:
            out.append(f"{where}: must be <= {schema['maximum']}, got {instance}")
        if "exclusiveMinimum" in schema and instance <= schema["exclusiveMinimum"]:
            out.append(f"{where}: must be > {schema['exclusiveMinimum']}, got {instance}")
        if "exclusiveMaximum" in schema and instance >= schema["exclusiveMaximum"]:
            out.append(f"{where}: must be < {schema['exclusiveMaximum']}, got {instance}")
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in instance:
                out.append(f"{where}: missing required field {key!r}")
        for key, value in instance.items():
            if key in props:
                out += schema_errors(value, props[key], root, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{where}: unexpected field {key!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                out += schema_errors(value, schema["additionalProperties"], root, f"{where}.{key}")
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(instance):
            out += schema_errors(item, schema["items"], root, f"{where}[{i}]")
    return out


def check_message(instance: Any, def_name: str) -> None:
    """Raise ``ProtocolError(400)`` unless ``instance`` matches ``$defs/<def_name>``."""
    schema = protocol_schema()
    errs = schema_errors(instance, schema["$defs"][def_name], schema)
    if errs:
        shown = "; ".join(errs[:5]) + (f" (+{len(errs) - 5} more)" if len(errs) > 5 else "")
        raise ProtocolError(400, "INVALID_MESSAGE", f"{def_name} message rejected: {shown}")


# --------------------------------------------------------------------------- bodies


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(400, "BAD_JSON", f"request body is not valid JSON: {exc}") from None


def npy_bytes(array: NDArray[Any]) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def parse_npy(body: bytes) -> NDArray[np.float64]:
    """A 1-D or 2-D real array from .npy bytes (no pickles); ProtocolError(400) otherwise."""
    try:
        arr = np.load(io.BytesIO(body), allow_pickle=False)
    except Exception as exc:  # numpy raises several types for malformed headers
        msg = f"request body is not a valid .npy array: {exc}"
        raise ProtocolError(400, "BAD_NPY", msg) from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf" or arr.ndim not in (1, 2):
        raise ProtocolError(400, "BAD_NPY", "the .npy body must be a 1-D or 2-D real array")
    return np.ascontiguousarray(arr, dtype=np.float64)
