#!/usr/bin/env bash
# Create the two peer venvs the solver benchmark compares against (idempotent).
#   calab 0.3.0 : the released PyPI package; it has our import name, so it must never
#                 enter the main interpreter.
#   OASIS       : oasis-deconv's isolated sdist build fails on current numpy/Cython, so
#                 its build deps are pinned and it is built without isolation.
# Everything comes from PyPI. Usage: benchmarks/peers/setup_peers.sh [PEERS_DIR]
set -euo pipefail

PEERS_DIR="${1:-${CALAB_PEERS_DIR:-/tmp/peers}}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$PEERS_DIR"

make_venv() {  # make_venv DIR IMPORT_CHECK -- PIP_ARGS...
  local dir="$1" check="$2"; shift 3
  if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "$check" 2>/dev/null; then
    echo "ok: $dir"; return
  fi
  "$PYTHON" -m venv "$dir"
  "$dir/bin/pip" install --quiet --upgrade pip
  "$@"
  "$dir/bin/python" -c "$check"
  echo "created: $dir"
}

CALAB="$PEERS_DIR/calab030"
make_venv "$CALAB" "import calab; assert calab.__version__ == '0.3.0'" -- \
  "$CALAB/bin/pip" install --quiet --only-binary calab "calab==0.3.0"

OASIS="$PEERS_DIR/oasis"
install_oasis() {
  "$OASIS/bin/pip" install --quiet "numpy==1.26.4" "cython==0.29.37" "scipy>=1.11,<1.18" \
    setuptools wheel
  "$OASIS/bin/pip" install --quiet --no-build-isolation "oasis-deconv==0.3.2"
}
make_venv "$OASIS" "from oasis.functions import deconvolve; from oasis.oasis_methods import oasisAR2" -- \
  install_oasis
