#!/usr/bin/env python3
"""Check that wasm-opt kept every export of a wasm-bindgen module intact.

Usage: wasm_exports.py BEFORE.wasm AFTER.wasm

Each export must keep its name, kind and type: a function its signature, a table its element
type. This catches optimiser bugs like binaryen#4711 (a table export rebound to another
table), which otherwise surface only when the page instantiates the module. Stdlib only; reads
the MVP binary format plus reference types, enough for what rustc and wasm-bindgen emit.
"""

import sys

KINDS = {0: "func", 1: "table", 2: "memory", 3: "global"}
VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128", 0x70: "funcref", 0x6F: "externref"}


class Reader:
    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result

    def name(self) -> str:
        n = self.uleb()
        s = self.data[self.pos : self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def limits(self) -> None:
        flags = self.byte()
        self.uleb()
        if flags & 1:
            self.uleb()

    def valtype(self) -> str:
        b = self.byte()
        return VALTYPES.get(b, f"0x{b:02x}")


def exports(path: str) -> dict:
    data = open(path, "rb").read()
    if data[:4] != b"\0asm":
        sys.exit(f"wasm_exports.py: {path} is not a wasm module")
    r = Reader(data, 8)
    types, funcs, tables, exps = [], [], [], []
    while r.pos < len(data):
        section, size = r.byte(), r.uleb()
        end = r.pos
        end += size
        if section == 1:  # types
            for _ in range(r.uleb()):
                r.byte()  # 0x60
                params = [r.valtype() for _ in range(r.uleb())]
                results = [r.valtype() for _ in range(r.uleb())]
                types.append(f"({', '.join(params)}) -> ({', '.join(results)})")
        elif section == 2:  # imports add to the index spaces first
            for _ in range(r.uleb()):
                r.name(), r.name()
                kind = r.byte()
                if kind == 0:
                    funcs.append(r.uleb())
                elif kind == 1:
                    tables.append(r.valtype())
                    r.limits()
                elif kind == 2:
                    r.limits()
                elif kind == 3:
                    r.valtype(), r.byte()
                else:
                    sys.exit(f"wasm_exports.py: {path}: unknown import kind {kind}")
        elif section == 3:
            funcs += [r.uleb() for _ in range(r.uleb())]
        elif section == 4:
            for _ in range(r.uleb()):
                tables.append(r.valtype())
                r.limits()
        elif section == 7:
            for _ in range(r.uleb()):
                exps.append((r.name(), r.byte(), r.uleb()))
        r.pos = end
    out = {}
    for name, kind, index in exps:
        desc = KINDS.get(kind, f"kind {kind}")
        if kind == 0:
            desc += " " + types[funcs[index]]
        elif kind == 1:
            desc += " " + tables[index]
        out[name] = desc
    return out


def main() -> int:
    before, after = (exports(p) for p in sys.argv[1:3])
    problems = [
        f"  {name}: {before.get(name, 'absent')} before wasm-opt, {after.get(name, 'absent')} after"
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    ]
    if problems:
        print("wasm_exports.py: wasm-opt changed the module's exports:", *problems, sep="\n", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
