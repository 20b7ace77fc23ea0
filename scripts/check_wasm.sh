#!/usr/bin/env bash
# Is the committed pkg/ what the current sources build?
#
#   scripts/check_wasm.sh --fingerprint [PKG]  cheap (no build): recompute scripts/wasm_fingerprint.sh
#                                              and compare with PKG/SOURCE_FINGERPRINT
#   scripts/check_wasm.sh --rebuild [PKG]      build into a temp dir (reusing target/wasm) and cmp
#                                              every file against PKG
#   scripts/check_wasm.sh --fresh [PKG]        copy the fingerprinted inputs to a checkout at another
#                                              path, build there with an empty target dir, cmp against
#                                              PKG: proves the bytes depend on neither the checkout path
#                                              nor leftover build state
#
# PKG defaults to <repo>/pkg. Exit status 1 means pkg/ is stale or differs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/wasm_tools.sh"

mode=${1:-}
pkg=$(realpath -m -- "${2:-$CALAB_REPO/pkg}")

# compare_dirs EXPECTED ACTUAL: every file byte-identical, same file set; prints a summary.
compare_dirs() {
    local want=$1 got=$2 bad=0 f
    local -a want_files got_files
    mapfile -t want_files < <(find "$want" -type f -printf '%P\n' | LC_ALL=C sort)
    mapfile -t got_files < <(find "$got" -type f -printf '%P\n' | LC_ALL=C sort)
    while IFS= read -r f; do
        echo "  only in $want: $f"; bad=1
    done < <(LC_ALL=C comm -23 <(printf '%s\n' "${want_files[@]}") <(printf '%s\n' "${got_files[@]}"))
    while IFS= read -r f; do
        echo "  only in fresh build: $f"; bad=1
    done < <(LC_ALL=C comm -13 <(printf '%s\n' "${want_files[@]}") <(printf '%s\n' "${got_files[@]}"))
    while IFS= read -r f; do
        [[ -n $f ]] || continue
        if ! cmp -s "$want/$f" "$got/$f"; then
            bad=1
            echo "  differs: $f ($(stat -c %s "$want/$f") B committed, $(stat -c %s "$got/$f") B fresh; $(cmp "$want/$f" "$got/$f" 2>&1 | head -n1))"
            case $f in
                *.wasm) ;;
                *) diff -u "$want/$f" "$got/$f" | sed -n '3,30p' | sed 's/^/      /' ;;
            esac
        fi
    done < <(LC_ALL=C comm -12 <(printf '%s\n' "${want_files[@]}") <(printf '%s\n' "${got_files[@]}"))
    return $bad
}

case $mode in
--fingerprint)
    recorded=$pkg/SOURCE_FINGERPRINT
    if [[ ! -f $recorded ]]; then
        echo "pkg/ is stale: run make wasm ($recorded does not exist)" >&2
        exit 1
    fi
    current=$("$CALAB_REPO/scripts/wasm_fingerprint.sh")
    # A tool missing here (a docs or Python-only machine) cannot be compared; its recorded
    # version is skipped with a note rather than reported as a difference.
    unavailable=$(sed -n 's/^tool \([^ ]*\) <unavailable>$/\1/p' <<<"$current")
    filter() { grep -v -e '^#' -e '^digest ' | { if [[ -n $unavailable ]]; then grep -v -E "^tool ($(paste -sd'|' <<<"$unavailable")) "; else cat; fi; }; }
    if ! d=$(diff <(filter <"$recorded") <(filter <<<"$current")); then
        echo "pkg/ is stale: run make wasm" >&2
        echo "inputs that changed since $recorded was written (< recorded, > now):" >&2
        sed -n 's/^[<>] .*/  &/p' <<<"$d" >&2
        exit 1
    fi
    [[ -z $unavailable ]] || echo "check_wasm: not installed here, versions not compared: $(paste -sd' ' <<<"$unavailable")" >&2
    echo "check_wasm: $pkg matches its sources ($(sed -n 's/^digest //p' <<<"$current"))"
    ;;
--rebuild | --fresh)
    [[ -d $pkg ]] || { echo "check_wasm: $pkg does not exist: run make wasm" >&2; exit 1; }
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/calab-wasm-check.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    if [[ $mode == --rebuild ]]; then
        "$CALAB_REPO/scripts/build_wasm.sh" "$tmp/pkg"
    else
        # Copy exactly the fingerprinted inputs (plus the installer); if something the build
        # needs is not among them, this build fails, which is the point.
        mkdir -p "$tmp/checkout"
        { "$CALAB_REPO/scripts/wasm_fingerprint.sh" --files; echo scripts/install_wasm_bindgen.sh; } |
            (cd "$CALAB_REPO" && while IFS= read -r f; do [[ -e $f ]] && cp --parents -p -- "$f" "$tmp/checkout/"; done)
        # Reuse this checkout's wasm-bindgen rather than compiling another copy.
        "$CALAB_REPO/scripts/install_wasm_bindgen.sh"
        WASM_BINDGEN=$WASM_BINDGEN CALAB_WASM_TARGET_DIR="$tmp/target" \
            "$tmp/checkout/scripts/build_wasm.sh" "$tmp/pkg"
    fi
    if ! summary=$(compare_dirs "$pkg" "$tmp/pkg"); then
        echo "pkg/ differs from a fresh build ($mode): run make wasm" >&2
        printf '%s\n' "$summary" >&2
        exit 1
    fi
    echo "check_wasm: $pkg is byte-identical to a fresh build ($mode, $(find "$pkg" -type f | wc -l) files)"
    ;;
*)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
