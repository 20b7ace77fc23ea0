#!/usr/bin/env bash
# Build the browser package (what `wasm-pack build --target web` would make) reproducibly:
#   cargo build (Debian's rustc, -Zbuild-std) -> wasm-bindgen --target web -> wasm-opt -> package.json
#   + SOURCE_FINGERPRINT (scripts/wasm_fingerprint.sh), which `scripts/check_wasm.sh --fingerprint` compares.
#
#   scripts/build_wasm.sh [OUT_DIR]      # OUT_DIR defaults to <repo>/pkg; relative paths are from $PWD
#
# Env overrides: WASM_RUSTC WASM_CARGO WASM_LD WASM_OPT WASM_BINDGEN (scripts/wasm_tools.sh),
# CALAB_WASM_TARGET_DIR (default <repo>/target/wasm, kept apart from the host build's target/).
#
# Why Debian's toolchain: it ships the std source, so std is rebuilt for wasm32 from source
# (RUSTC_BOOTSTRAP=1 lets the stable compiler accept -Zbuild-std); rustup's toolchains here
# cannot add the wasm32 target. Output bytes do not depend on where the checkout, CARGO_HOME
# or the Rust source live: every such prefix is remapped (panic messages embed source paths).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/wasm_tools.sh"
cd "$CALAB_REPO"

OUT_NAME=calab_solver
PACKAGE=calab-solver
out=$(realpath -m -- "${1:-$CALAB_REPO/pkg}")
target_dir=$(realpath -m -- "${CALAB_WASM_TARGET_DIR:-$CALAB_REPO/target/wasm}")
t_start=$SECONDS

# --- tools: report everything missing at once, with the command that provides it ---------
missing=()
[[ -x $WASM_RUSTC ]] || missing+=("$WASM_RUSTC (Debian Rust): apt-get install -y rustc-web cargo-web rust-web-src")
[[ -x $WASM_CARGO ]] || missing+=("$WASM_CARGO (Debian cargo): apt-get install -y cargo-web")
if [[ -x $WASM_RUSTC ]]; then
    rust_src=$("$WASM_RUSTC" --print sysroot)/lib/rustlib/src/rust
    [[ -d $rust_src/library/std ]] || missing+=("$rust_src/library (std source for -Zbuild-std): apt-get install -y rust-web-src")
fi
command -v "$WASM_LD" >/dev/null || missing+=("$WASM_LD (wasm linker): apt-get install -y lld-19")
command -v "$WASM_OPT" >/dev/null || missing+=("$WASM_OPT (binaryen): apt-get install -y binaryen")
command -v python3 >/dev/null || missing+=("python3 (writes package.json): apt-get install -y python3")
if ((${#missing[@]})); then
    echo "build_wasm: missing tools:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
fi
# wasm-bindgen must match Cargo.lock exactly; install it (from crates.io source) if needed.
if [[ $("$WASM_BINDGEN" --version 2>/dev/null) != "wasm-bindgen $(wasm_bindgen_locked_version)" ]]; then
    "$CALAB_REPO/scripts/install_wasm_bindgen.sh"
fi

fingerprint_before=$("$CALAB_REPO/scripts/wasm_fingerprint.sh")

# --- code generation flags -------------------------------------------------------------------
# No reference-types: with them wasm-bindgen keeps JS values in a second (externref) table,
# and wasm-opt rebinds that table's export to the funcref table (binaryen#4711; seen here
# with Debian's binaryen 108: "WebAssembly.Table.set(): ... function-typed object" at
# instantiation, and reported again with binaryen 120). Without them wasm-bindgen uses a
# JS-side heap and the module has one table. Node 20 and Chromium support both ways.
target_flags=(-Ctarget-feature=-reference-types)

# --- path remapping -------------------------------------------------------------------------
# rustc applies the last matching --remap-path-prefix, so the most specific prefixes go last
# (a CARGO_HOME or target dir inside the checkout must win over the checkout itself).
cargo_home=${CARGO_HOME:-$HOME/.cargo}
remap=()
add_remap() { # add_remap FROM TO: both the path as given and its resolved form
    local from=$1 to=$2 real
    remap+=("--remap-path-prefix=$from=$to")
    real=$(realpath -m -- "$from")
    [[ $real == "$from" ]] || remap+=("--remap-path-prefix=$real=$to")
}
add_remap "$CALAB_REPO" /calab
add_remap "$target_dir" /calab/target/wasm
add_remap "$cargo_home" /cargo
add_remap "$rust_src" /rust-src
# CARGO_ENCODED_RUSTFLAGS (0x1f-separated) survives spaces in paths, and replaces any
# RUSTFLAGS/build.rustflags the caller has, which would otherwise change the output.
encoded_rustflags=$(IFS=$'\x1f'; echo "${target_flags[*]}${IFS}${remap[*]}")

# Variables that would silently change what cargo builds or how.
unset_vars=(RUSTFLAGS RUSTDOCFLAGS RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER RUSTUP_TOOLCHAIN CARGO_INCREMENTAL)
while IFS= read -r v; do unset_vars+=("$v"); done < <(compgen -e | grep -E '^(CARGO_(PROFILE|BUILD|TARGET|UNSTABLE|ENCODED)_|RUSTC_)' || true)

echo "build_wasm: cargo build ($("$WASM_RUSTC" --version)) -> $target_dir" >&2
t0=$SECONDS
env "${unset_vars[@]/#/--unset=}" \
    RUSTC="$WASM_RUSTC" \
    RUSTC_BOOTSTRAP=1 \
    CARGO_ENCODED_RUSTFLAGS="$encoded_rustflags" \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$WASM_LD" \
    CARGO_TARGET_DIR="$target_dir" \
    "$WASM_CARGO" build --release --locked \
    --manifest-path "$CALAB_REPO/Cargo.toml" -p "$PACKAGE" --lib --features wasm \
    --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
t_cargo=$((SECONDS - t0))
raw_wasm=$target_dir/wasm32-unknown-unknown/release/$OUT_NAME.wasm

# --- every repo file rustc read must be covered by the fingerprint ---------------------------
python3 - "$target_dir/wasm32-unknown-unknown/release/$OUT_NAME.d" "$CALAB_REPO" "$target_dir" \
    <("$CALAB_REPO/scripts/wasm_fingerprint.sh" --files) <<'PY'
import os, re, sys
depfile, repo, target, listed = sys.argv[1:5]
text = open(depfile, encoding="utf-8").read()
deps = set()
for line in text.splitlines():
    if ":" not in line:
        continue
    rhs = line.split(": ", 1)[1] if ": " in line else ""
    deps.update(p.replace("\\ ", " ") for p in re.split(r"(?<!\\) ", rhs) if p)
covered = set(open(listed, encoding="utf-8").read().split("\n"))
uncovered = sorted(
    os.path.relpath(p, repo) for p in deps
    if p.startswith(repo + os.sep) and not p.startswith(target + os.sep)
    and os.path.relpath(p, repo) not in covered
)
if uncovered:
    sys.exit("build_wasm: the wasm build read files scripts/wasm_fingerprint.sh does not hash;\n"
             "add them to its input list:\n  " + "\n  ".join(uncovered))
PY

# --- wasm-bindgen, wasm-opt, package.json, fingerprint into a staging dir --------------------
mkdir -p "$(dirname "$out")"
stage=$(mktemp -d "$(dirname "$out")/.${OUT_NAME}-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"

t0=$SECONDS
"$WASM_BINDGEN" --target web --out-dir "$stage" --out-name "$OUT_NAME" "$raw_wasm"
t_bindgen=$((SECONDS - t0))

# wasm-opt must accept exactly the features rustc compiled for (its default is MVP, which
# rejects e.g. bulk-memory and sign-ext instructions); tie the flags to rustc's list so a new
# compiler default fails loudly here instead of producing a module some engine rejects.
opt_flags=()
while IFS= read -r feat; do
    case $feat in
        bulk-memory | multivalue | mutable-globals | reference-types | sign-ext | tail-call | \
            extended-const | exception-handling | relaxed-simd | memory64 | gc)
            opt_flags+=("--enable-$feat") ;;
        nontrapping-fptoint) opt_flags+=(--enable-nontrapping-float-to-int) ;;
        simd128) opt_flags+=(--enable-simd) ;;
        atomics) opt_flags+=(--enable-threads) ;;
        *) echo "build_wasm: rustc enables wasm feature '$feat' that this script does not map to a wasm-opt flag" >&2; exit 1 ;;
    esac
done < <(RUSTC_BOOTSTRAP=1 "$WASM_RUSTC" --print cfg --target wasm32-unknown-unknown "${target_flags[@]}" |
    sed -n 's/^target_feature="\(.*\)"$/\1/p' | LC_ALL=C sort)

t0=$SECONDS
"$WASM_OPT" -O3 "${opt_flags[@]}" "$stage/${OUT_NAME}_bg.wasm" -o "$stage/${OUT_NAME}_bg.opt.wasm"
# Guard against that class of wasm-opt bug whatever the flags: exports must keep their kind
# and, for tables, their element type.
python3 "$CALAB_REPO/scripts/wasm_exports.py" "$stage/${OUT_NAME}_bg.wasm" "$stage/${OUT_NAME}_bg.opt.wasm"
mv "$stage/${OUT_NAME}_bg.opt.wasm" "$stage/${OUT_NAME}_bg.wasm"
t_opt=$((SECONDS - t0))

"$WASM_CARGO" metadata --no-deps --format-version 1 --manifest-path "$CALAB_REPO/Cargo.toml" |
    python3 "$CALAB_REPO/scripts/wasm_package_json.py" "$PACKAGE" "$stage" "$OUT_NAME"

fingerprint_after=$("$CALAB_REPO/scripts/wasm_fingerprint.sh")
if [[ $fingerprint_before != "$fingerprint_after" ]]; then
    echo "build_wasm: inputs changed while building; not writing $out. Run again." >&2
    diff <(echo "$fingerprint_before") <(echo "$fingerprint_after") >&2 || true
    exit 1
fi
{
    echo "# Inputs of this package (scripts/wasm_fingerprint.sh); check: scripts/check_wasm.sh --fingerprint"
    echo "$fingerprint_after"
} >"$stage/SOURCE_FINGERPRINT"

# --- replace OUT_DIR, refusing to clobber a directory this script did not make --------------
if [[ -e $out ]]; then
    if [[ ! -d $out || ( -n $(ls -A "$out") && ! -f $out/SOURCE_FINGERPRINT ) ]]; then
        echo "build_wasm: $out exists and is not a package built by this script; not replacing it" >&2
        exit 1
    fi
    rm -rf "$out"
fi
mv "$stage" "$out"
trap - EXIT

size=$(stat -c %s "$out/${OUT_NAME}_bg.wasm")
raw_size=$(stat -c %s "$raw_wasm")
echo "build_wasm: wrote $out (wasm ${size} B after wasm-opt, ${raw_size} B from rustc;" \
    "cargo ${t_cargo}s, wasm-bindgen ${t_bindgen}s, wasm-opt ${t_opt}s, total $((SECONDS - t_start))s)" >&2
