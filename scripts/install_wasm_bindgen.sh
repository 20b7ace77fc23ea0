#!/usr/bin/env bash
# Install the wasm-bindgen CLI whose version equals the wasm-bindgen crate in Cargo.lock
# (the CLI refuses modules made by any other version) into $WASM_BINDGEN_ROOT (.tools/).
# No-op when the right version is already there. Builds from crates.io source with the
# host cargo; takes a few minutes.
#
# `cargo install --locked` can fail when the CLI's own Cargo.lock pins a crate version the
# registry does not serve (seen: wasm-bindgen-cli 0.2.130 pins webpki-roots 1.0.11, absent
# from the index these machines reach). The fallback builds the same crate source with that
# one lock entry moved to the newest compatible version cargo can resolve, and says so.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/wasm_tools.sh"

version=$(wasm_bindgen_locked_version)
[[ -n $version ]] || { echo "install_wasm_bindgen: no wasm-bindgen entry in $CALAB_REPO/Cargo.lock" >&2; exit 1; }
if [[ $("$WASM_BINDGEN" --version 2>/dev/null) == "wasm-bindgen $version" ]]; then
    exit 0
fi

host_cargo=${HOST_CARGO:-$(command -v cargo || echo /usr/bin/cargo)}
echo "install_wasm_bindgen: installing wasm-bindgen-cli $version into $WASM_BINDGEN_ROOT (builds from source, a few minutes)" >&2
if "$host_cargo" install wasm-bindgen-cli --version "$version" --locked --force --root "$WASM_BINDGEN_ROOT"; then
    exit 0
fi

src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"wasm-bindgen-cli-$version" 2>/dev/null | head -n1 || true)
[[ -d $src ]] || { echo "install_wasm_bindgen: cargo install failed and no unpacked source of wasm-bindgen-cli $version to fall back on" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src" "$work/cli"
cd "$work/cli"
for _ in 1 2 3 4 5 6 7 8; do
    if err=$("$host_cargo" fetch --locked 2>&1); then
        "$host_cargo" install --path . --locked --force --root "$WASM_BINDGEN_ROOT"
        exit 0
    fi
    # e.g. "failed to select a version for the requirement `webpki-roots = "^1.0.10"` (locked to 1.0.11)"
    spec=$(sed -n 's/.*requirement `\([A-Za-z0-9_-]*\) = .*(locked to \([^)]*\)).*/\1@\2/p' <<<"$err" | head -n1)
    if [[ -z $spec ]]; then
        printf '%s\n' "$err" >&2
        exit 1
    fi
    echo "install_wasm_bindgen: $spec is not in the registry; re-locking only that crate" >&2
    "$host_cargo" update -p "$spec"
done
echo "install_wasm_bindgen: gave up after 8 re-locked crates" >&2
exit 1
