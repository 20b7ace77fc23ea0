#!/usr/bin/env python3
"""Write pkg/package.json the way `wasm-pack build --target web` does (its `to_web` manifest).

Usage: cargo metadata --no-deps --format-version 1 | wasm_package_json.py PACKAGE OUT_DIR OUT_NAME

Stdlib only. Key order and fields follow wasm-pack so tools that know its layout keep working;
fields the crate does not set are omitted, as wasm-pack does.
"""

import json
import os
import sys


def main() -> int:
    package, out_dir, out_name = sys.argv[1:4]
    meta = json.load(sys.stdin)
    pkg = next((p for p in meta["packages"] if p["name"] == package), None)
    if pkg is None:
        sys.exit(f"wasm_package_json.py: package {package!r} not in cargo metadata")

    files = [f"{out_name}_bg.wasm", f"{out_name}.js", f"{out_name}.d.ts"]
    files += sorted(
        f for f in os.listdir(out_dir) if f.startswith("LICENSE") and f != "LICENSE"
    )
    license_ = pkg.get("license") or (
        f"SEE LICENSE IN {pkg['license_file']}" if pkg.get("license_file") else None
    )
    fields = [
        ("name", pkg["name"]),
        ("type", "module"),
        ("collaborators", pkg.get("authors") or None),
        ("description", pkg.get("description")),
        ("version", pkg["version"]),
        ("license", license_),
        ("repository", {"type": "git", "url": pkg["repository"]} if pkg.get("repository") else None),
        ("files", files),
        ("main", f"{out_name}.js"),
        ("homepage", pkg.get("homepage")),
        ("types", f"{out_name}.d.ts"),
        ("sideEffects", ["./snippets/*"]),
        ("keywords", pkg.get("keywords") or None),
    ]
    with open(os.path.join(out_dir, "package.json"), "w", encoding="utf-8", newline="\n") as fh:
        json.dump({k: v for k, v in fields if v is not None}, fh, indent=2)
        fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
