#!/usr/bin/env bash
# Fingerprint of everything that determines the bytes of pkg/, cheap enough for tests:
# the solver crate's sources and manifest, the workspace manifest and lock file, the build
# scripts, any .cargo/config.toml, and the version of each tool in the chain.
#
#   scripts/wasm_fingerprint.sh            # manifest: "digest <sha256>" then one line per input
#   scripts/wasm_fingerprint.sh --files    # just the repo-relative input paths
#
# The manifest is what build_wasm.sh writes to pkg/SOURCE_FINGERPRINT; the digest is the
# sha256 of the lines after it. build_wasm.sh cross-checks this file list against the
# dep-info rustc writes, so an input that is not listed here (an include_str! of a file
# elsewhere in the repo, say) fails the build instead of silently escaping the check.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/wasm_tools.sh"
cd "$CALAB_REPO"
export LC_ALL=C

input_files() {
    {
        # Integration tests, benches and examples never reach the library; the Python
        # binding compiles only with --features python.
        find crates/solver \
            \( -path crates/solver/tests -o -path crates/solver/benches \
               -o -path crates/solver/examples -o -path crates/solver/target \
               -o -path crates/solver/src/bindings/python -o -name '.*' \) -prune \
            -o -type f ! -name '*~' ! -name '*.orig' ! -name '*.rej' \
               ! -path crates/solver/src/bindings/python.rs -print
        echo Cargo.toml
        echo Cargo.lock
        echo scripts/build_wasm.sh
        echo scripts/wasm_tools.sh
        echo scripts/wasm_fingerprint.sh
        echo scripts/wasm_package_json.py
        echo scripts/wasm_exports.py
        [[ -f .cargo/config.toml ]] && echo .cargo/config.toml
        [[ -f .cargo/config ]] && echo .cargo/config
        true
    } | sort -u
}

if [[ ${1:-} == --files ]]; then
    input_files
    exit 0
fi

body=$(
    input_files | while IFS= read -r f; do
        if [[ -f $f ]]; then
            echo "file $(sha256sum < "$f" | cut -d' ' -f1) $f"
        else
            echo "file <missing> $f"
        fi
    done
    wasm_tool_versions
)
echo "digest $(printf '%s\n' "$body" | sha256sum | cut -d' ' -f1)"
printf '%s\n' "$body"
