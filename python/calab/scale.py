"""Scale-out with Dask: the public face of :mod:`calab._dask` (rows) and :mod:`calab.movie`.

* :func:`map_rows`, :func:`compute`, :func:`is_dask_array` and :func:`solve_rows_on_cluster`
  (row-chunked solving of dask arrays, locally or on a cluster) live in :mod:`calab._dask`;
* :func:`deconvolve_movie` and :class:`MovieResult` (pixel-wise deconvolution of a movie, tile by
  tile) live in :mod:`calab.movie`;
* :func:`deconvolve_export_on_cluster` (a CaTune export applied on a cluster) is here, as it
  joins the two concerns above with :mod:`calab.io`.

Every name is importable from ``calab.scale`` as before. Dask is optional
(``pip install 'calab[dask]'``); nothing here imports it unless it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._dask import compute, is_dask_array, map_rows, solve_rows_on_cluster
from ._validate import as_traces
from .io import export_spec, solve_with_spec
from .movie import MovieResult, deconvolve_movie

__all__ = ["MovieResult", "compute", "deconvolve_movie", "is_dask_array", "map_rows"]


def deconvolve_export_on_cluster(
    traces: Any, params: Mapping[str, Any], *, scheduler: Any, chunk_size: int = 64,
    progress: bool = True,
) -> Any:
    """:func:`calab.deconvolve_from_export` (2-D, ``return_full=True``) run on a Dask cluster.

    ``params`` comes from :func:`calab.load_export_params`; the export's solver (L1, L0 or
    Convar) and preprocessing run on the workers through the same function the single-process
    path calls, so the result equals that one exactly.
    """
    spec = export_spec(params)
    arr, _ = as_traces(traces)  # NaN etc. fail here, before anything is sent to the cluster
    return solve_rows_on_cluster(solve_with_spec, arr, spec, scheduler=scheduler,
                                 chunk_rows=chunk_size, progress=progress)
