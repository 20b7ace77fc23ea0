# shellcheck shell=bash
# Sourced by build_wasm.sh, wasm_fingerprint.sh and install_wasm_bindgen.sh: the one place
# that says which tools build pkg/. The wasm build deliberately uses Debian's Rust (it ships
# the std source that -Zbuild-std needs; rustup's toolchains here have only the host target),
# while everything else in the repo keeps rustup's toolchain. Override any of these from the
# environment, e.g. WASM_OPT=/opt/binaryen/bin/wasm-opt scripts/build_wasm.sh.

# The checkout these scripts live in (never taken from the environment: check_wasm.sh --fresh
# runs a copy of them elsewhere and that copy must build itself).
CALAB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
WASM_RUSTC=${WASM_RUSTC:-/usr/bin/rustc}
WASM_CARGO=${WASM_CARGO:-/usr/bin/cargo}
WASM_LD=${WASM_LD:-wasm-ld-19}
WASM_OPT=${WASM_OPT:-wasm-opt}
# wasm-bindgen's CLI must equal the wasm-bindgen crate in Cargo.lock; a project-local
# install (.tools/, untracked) keeps it from clashing with other checkouts' versions.
WASM_BINDGEN_ROOT=${WASM_BINDGEN_ROOT:-$CALAB_REPO/.tools}
WASM_BINDGEN=${WASM_BINDGEN:-$WASM_BINDGEN_ROOT/bin/wasm-bindgen}

# Version of the wasm-bindgen crate pinned in Cargo.lock.
wasm_bindgen_locked_version() {
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' \
        "$CALAB_REPO/Cargo.lock"
}

# One line per tool that shapes the bytes of pkg/; "<unavailable>" when it is missing,
# so a machine without the wasm toolchain can still compare the source part.
wasm_tool_versions() {
    local v
    v=$("$WASM_RUSTC" -vV 2>/dev/null | paste -sd';' -) || v=
    echo "tool rustc ${v:-<unavailable>}"
    v=$("$WASM_CARGO" --version 2>/dev/null) || v=
    echo "tool cargo ${v:-<unavailable>}"
    v=$("$WASM_LD" --version 2>/dev/null | head -n1) || v=
    echo "tool wasm-ld ${v:-<unavailable>}"
    v=$("$WASM_BINDGEN" --version 2>/dev/null) || v=
    echo "tool wasm-bindgen ${v:-<unavailable>}"
    v=$("$WASM_OPT" --version 2>/dev/null) || v=
    echo "tool wasm-opt ${v:-<unavailable>}"
}
