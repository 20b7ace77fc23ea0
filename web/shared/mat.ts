// Reader for MATLAB .mat level-5 files (what `save -v7` and scipy.io.savemat write): numeric and logical
// matrices, optionally inside miCOMPRESSED elements. Other classes (struct, cell, char, sparse) are listed
// as skipped. v7.3 files are HDF5 and v4 files predate the format; both get a message on how to convert.
// Sizes are checked before allocation (dimensions non-negative, value count against MAX_VALUES) and
// compressed variables inflate against one budget for the whole file, stopping as soon as it is spent.

import { Unzlib } from 'fflate';
import { type ElemKind, fortranToC, type NamedArray, readElements, squeezeTo2d } from './array';
import { ParseError, type ParseErrorCode, type Skipped, asParseError } from './errors';
import { MAX_INFLATED_BYTES, MAX_VALUES, mib, tooManyValues } from './limits';
import type { ContainerResult } from './npz';

const HDF5_SIG = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const CONVERT_HINT =
  'Convert it in Python with scipy.io.savemat("out.mat", {"traces": traces}) or `calab convert`, or save it from MATLAB with save(..., "-v7").';

// miXXX data types -> element kind and size.
const MI: Record<number, [ElemKind, number]> = {
  1: ['i', 1],
  2: ['u', 1],
  3: ['i', 2],
  4: ['u', 2],
  5: ['i', 4],
  6: ['u', 4],
  7: ['f', 4],
  9: ['f', 8],
  12: ['i', 8],
  13: ['u', 8],
};
const MI_MATRIX = 14;
const MI_COMPRESSED = 15;
// mxXXX array classes that hold numbers.
const MX_NUMERIC: Record<number, string> = {
  6: 'double',
  7: 'single',
  8: 'int8',
  9: 'uint8',
  10: 'int16',
  11: 'uint16',
  12: 'int32',
  13: 'uint32',
  14: 'int64',
  15: 'uint64',
};
const MX_NAMES: Record<number, string> = { 1: 'cell', 2: 'struct', 3: 'object', 4: 'char', 5: 'sparse' };
/** MATLAB never nests compressed elements; a file that does is not one it wrote. */
const MAX_DEPTH = 4;
const MAX_NAME = 4096;

export function isMatV73(bytes: Uint8Array): boolean {
  const head = String.fromCharCode(...bytes.subarray(0, Math.min(116, bytes.length)));
  if (/MATLAB 7\.3/.test(head)) return true;
  return bytes.length >= 520 && HDF5_SIG.every((b, i) => bytes[512 + i] === b);
}

interface Element {
  type: number;
  data: Uint8Array;
}

/** Splits a byte range into data elements (tag + payload, 8-byte aligned; small elements packed in the tag). */
function* elements(bytes: Uint8Array, le: boolean): Generator<Element> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  while (p + 8 <= bytes.length) {
    const first = view.getUint32(p, le);
    const small = first >>> 16;
    if (small !== 0) {
      if (small > 4)
        throw new ParseError(
          'BAD_HEADER',
          `element at byte ${p} claims ${small} bytes packed into a 4-byte tag (corrupt file)`,
        );
      yield { type: first & 0xffff, data: bytes.subarray(p + 4, p + 4 + small) };
      p += 8;
      continue;
    }
    const n = view.getUint32(p + 4, le);
    if (p + 8 + n > bytes.length)
      throw new ParseError(
        'TRUNCATED',
        `element at byte ${p} needs ${n} bytes but the file ends first (truncated file)`,
      );
    yield { type: first, data: bytes.subarray(p + 8, p + 8 + n) };
    p += 8 + (first === MI_COMPRESSED ? n : Math.ceil(n / 8) * 8);
  }
}

type MatrixOutcome = { array: NamedArray } | { skip: Skipped };

function parseMatrix(bytes: Uint8Array, le: boolean, where: string): MatrixOutcome {
  const parts = [...elements(bytes, le)];
  if (parts.length < 3 || parts[0].data.length < 4 || parts[1].data.length < 8)
    throw new ParseError('BAD_HEADER', 'a matrix element is incomplete');
  const flagsView = new DataView(parts[0].data.buffer, parts[0].data.byteOffset, parts[0].data.byteLength);
  const flags = flagsView.getUint32(0, le);
  const cls = flags & 0xff;
  const complex = (flags & 0x0800) !== 0;
  const logical = (flags & 0x0200) !== 0;
  const dv = new DataView(parts[1].data.buffer, parts[1].data.byteOffset, parts[1].data.byteLength);
  const dims: number[] = [];
  for (let i = 0; i + 4 <= parts[1].data.length && dims.length <= 32; i += 4) dims.push(dv.getInt32(i, le));
  if (parts[2].data.length > MAX_NAME)
    throw new ParseError('BAD_HEADER', `a variable name of ${parts[2].data.length} bytes (corrupt file)`);
  const name = new TextDecoder('latin1').decode(parts[2].data) || '(unnamed)';
  if (!(cls in MX_NUMERIC))
    return { skip: { name, reason: `${MX_NAMES[cls] ?? `class ${cls}`} variables are not numeric matrices` } };
  if (dims.some((d) => d < 0) || dims.length > 32) {
    return {
      skip: {
        name,
        code: 'BAD_SHAPE',
        reason: `size ${dims.slice(0, 8).join('x')} has a negative or impossible dimension (a corrupt file)`,
      },
    };
  }
  const count = dims.reduce((a, b) => a * b, 1);
  if (count === 0) return { skip: { name, code: 'EMPTY', reason: `size ${dims.join('x')} holds no values` } };
  if (count > MAX_VALUES)
    throw new ParseError('TOO_LARGE', tooManyValues(where, `variable '${name}' (${dims.join('x')})`, count));
  if (complex) return { skip: { name, reason: 'complex values are not supported' } };
  const real = parts[3];
  if (!real) throw new ParseError('TRUNCATED', `variable '${name}' has no data`);
  const mi = MI[real.type];
  if (!mi) return { skip: { name, reason: `storage type ${real.type} is not supported` } };
  const shape = squeezeTo2d(dims);
  if (!shape) return { skip: { name, code: 'BAD_SHAPE', reason: `size ${dims.join('x')} is not 1-D or 2-D` } };
  const rv = new DataView(real.data.buffer, real.data.byteOffset, real.data.byteLength);
  if (real.data.length < count * mi[1])
    throw new ParseError(
      'TRUNCATED',
      `variable '${name}' has fewer values than its size ${dims.join('x')} (truncated file)`,
    );
  let data = readElements(rv, 0, count, mi[0], mi[1], le);
  // MATLAB stores column-major; squeezing singleton dims keeps that order valid for the 2-D view.
  if (shape.length === 2) data = fortranToC(data, shape[0], shape[1]);
  const dtype = logical ? 'bool' : MX_NUMERIC[cls];
  if (shape.length === 2 && (shape[0] === 1 || shape[1] === 1)) return { array: { name, data, shape: [count], dtype } };
  return { array: { name, data, shape, dtype } };
}

/** Inflates one miCOMPRESSED element against the file's remaining budget (stops as soon as it is spent). */
function inflateBounded(data: Uint8Array, budget: { left: number }, where: string): Uint8Array {
  const chunks: Uint8Array[] = [];
  let n = 0;
  const inflater = new Unzlib((chunk) => {
    n += chunk.length;
    if (n > budget.left) {
      throw new ParseError(
        'TOO_LARGE',
        `${where}: its compressed variables inflate to more than the ${mib(MAX_INFLATED_BYTES)} the browser reads (a corrupt or hostile file, or a recording too large for the browser); stopped there.`,
      );
    }
    chunks.push(chunk);
  });
  const step = 1 << 14;
  if (data.length === 0) inflater.push(data, true);
  for (let p = 0; p < data.length; p += step) inflater.push(data.subarray(p, p + step), p + step >= data.length);
  budget.left -= n;
  const out = new Uint8Array(n);
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

export function parseMat(bytes: Uint8Array, where = 'file'): ContainerResult {
  if (bytes.length >= 8 && isMatV73(bytes)) {
    throw new ParseError(
      'MAT_V73',
      `${where} is a MATLAB v7.3 (HDF5) file, which the browser cannot read. ${CONVERT_HINT}`,
    );
  }
  if (bytes.length < 128)
    throw new ParseError('TRUNCATED', `${where}: only ${bytes.length} bytes, too short for a .mat file (truncated?).`);
  const endian = String.fromCharCode(bytes[126], bytes[127]);
  if (endian !== 'IM' && endian !== 'MI') {
    throw new ParseError(
      'MAT_V4',
      `${where} is not a MATLAB level-5 file (perhaps v4 or not a .mat at all). ${CONVERT_HINT}`,
    );
  }
  const le = endian === 'IM';
  const arrays: NamedArray[] = [];
  const skipped: Skipped[] = [];
  const budget = { left: MAX_INFLATED_BYTES };
  try {
    const visit = (el: Element, depth: number): void => {
      if (el.type === MI_COMPRESSED) {
        if (depth >= MAX_DEPTH)
          throw new ParseError('BAD_HEADER', 'compressed elements nested inside each other (not a file MATLAB writes)');
        let inner: Uint8Array;
        try {
          inner = inflateBounded(el.data, budget, where);
        } catch (e) {
          if (e instanceof ParseError) throw e;
          throw new ParseError(
            'TRUNCATED',
            'a compressed variable could not be decompressed (truncated or corrupt file)',
          );
        }
        for (const sub of elements(inner, le)) visit(sub, depth + 1);
      } else if (el.type === MI_MATRIX) {
        if (el.data.length === 0) return;
        const out = parseMatrix(el.data, le, where);
        if ('array' in out) arrays.push(out.array);
        else skipped.push(out.skip);
      }
    };
    for (const el of elements(bytes.subarray(128), le)) visit(el, 0);
  } catch (e) {
    throw asParseError(e, 'BAD_HEADER', `${where}`);
  }
  if (arrays.length === 0) {
    const why = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
    const codes = new Set(skipped.map((s) => s.code));
    const only = codes.size === 1 ? [...codes][0] : undefined;
    const code: ParseErrorCode = only === 'EMPTY' || only === 'BAD_SHAPE' ? only : 'NO_NUMERIC_ARRAY';
    throw new ParseError(code, `${where}: no numeric matrix found${why ? ` (${why})` : ''}.`);
  }
  return { arrays, skipped };
}
