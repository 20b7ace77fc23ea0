// Reader for NumPy .npy files (format versions 1.0, 2.0, 3.0). Pure TypeScript, no DOM, so it runs in
// tests, workers and the page alike. Big-endian and Fortran-ordered arrays come back row-major. The header
// is checked (length, shape, value count against MAX_VALUES, data present) before anything is allocated.

import { dtypeName, type ElemKind, fortranToC, type NumericArray, readElements, squeezeTo2d } from './array';
import { ParseError, asParseError } from './errors';
import { MAX_NPY_HEADER, MAX_VALUES, tooManyValues } from './limits';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function isNpy(bytes: Uint8Array): boolean {
  return MAGIC.every((b, i) => bytes[i] === b);
}

interface Header {
  descr: string;
  fortran: boolean;
  shape: number[];
}

function parseHeader(text: string, where: string): Header {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  if (!descr) {
    if (/'descr'\s*:\s*\[/.test(text)) {
      throw new ParseError(
        'UNSUPPORTED_DTYPE',
        `${where}: structured (record) arrays are not supported; save a plain numeric array, e.g. np.save(path, traces.astype(np.float32)).`,
      );
    }
    throw new ParseError('BAD_HEADER', `${where}: the header has no 'descr' entry (corrupt file?).`);
  }
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!fortran || !shape)
    throw new ParseError('BAD_HEADER', `${where}: the header is missing 'fortran_order' or 'shape' (corrupt file?).`);
  const inner = shape[1].trim();
  const parts =
    inner === ''
      ? []
      : inner
          .replace(/,\s*$/, '')
          .split(',')
          .map((p) => p.trim());
  // Digits only (Python 2 wrote 3L): no signs, exponents or expressions. Huge dimensions stay huge
  // numbers, so the value count below reports them as too large rather than wrapping.
  if (parts.length > 32 || parts.some((p) => !/^\d{1,30}L?$/.test(p))) {
    throw new ParseError('BAD_HEADER', `${where}: invalid shape (${shape[1].slice(0, 80)}).`);
  }
  const dims = parts.map((p) => Number(p.replace(/L$/, '')));
  return { descr: descr[1], fortran: fortran[1] === 'True', shape: dims };
}

function parseDescr(descr: string, where: string): { kind: ElemKind; size: number; little: boolean } {
  const m = /^([<>|=]?)([fiub])(\d+)$/.exec(descr);
  if (!m) {
    throw new ParseError(
      'UNSUPPORTED_DTYPE',
      `${where}: dtype '${descr}' is not supported; use a numeric array (float, int, uint or bool), e.g. traces.astype(np.float32).`,
    );
  }
  const kind = m[2] as ElemKind;
  const size = Number(m[3]);
  const ok = kind === 'f' ? [2, 4, 8].includes(size) : kind === 'b' ? size === 1 : [1, 2, 4, 8].includes(size);
  if (!ok)
    throw new ParseError(
      'UNSUPPORTED_DTYPE',
      `${where}: dtype '${descr}' is not supported (float16/32/64, int/uint 8-64 and bool are).`,
    );
  return { kind, size, little: m[1] !== '>' };
}

/** Parses a whole .npy file. `where` names the file (or .npz member) in error messages. */
export function parseNpy(bytes: Uint8Array, where = 'file'): NumericArray {
  try {
    if (bytes.length < 10)
      throw new ParseError(
        'TRUNCATED',
        `${where}: only ${bytes.length} bytes, too short to be a .npy file (truncated?).`,
      );
    if (!isNpy(bytes))
      throw new ParseError('BAD_MAGIC', `${where}: not a .npy file (it does not start with the \\x93NUMPY signature).`);
    const major = bytes[6];
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let headerLen: number;
    let start: number;
    if (major === 1) {
      headerLen = view.getUint16(8, true);
      start = 10;
    } else if (major === 2 || major === 3) {
      if (bytes.length < 12) throw new ParseError('TRUNCATED', `${where}: the header ends early (truncated file).`);
      headerLen = view.getUint32(8, true);
      start = 12;
    } else {
      throw new ParseError(
        'UNSUPPORTED_VERSION',
        `${where}: .npy format version ${major}.${bytes[7]} is not supported (1.0, 2.0 and 3.0 are).`,
      );
    }
    if (headerLen > MAX_NPY_HEADER)
      throw new ParseError(
        'BAD_HEADER',
        `${where}: a ${headerLen}-byte header is far beyond what numpy writes (corrupt file?).`,
      );
    if (start + headerLen > bytes.length)
      throw new ParseError('TRUNCATED', `${where}: the header ends early (truncated file).`);
    const raw = bytes.subarray(start, start + headerLen);
    const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(raw);
    const h = parseHeader(text, where);
    const d = parseDescr(h.descr, where);
    const shape = squeezeTo2d(h.shape);
    if (!shape) {
      throw new ParseError(
        'BAD_SHAPE',
        `${where}: shape (${h.shape.join(', ')}) is not 1-D or 2-D; CaTune needs one trace (time,) or a matrix (cells, time).`,
      );
    }
    const count = h.shape.reduce((a, b) => a * b, 1);
    if (count === 0) {
      throw new ParseError(
        'EMPTY',
        `${where}: shape (${h.shape.join(', ')}) holds no values; a recording needs at least one cell and one timepoint.`,
      );
    }
    if (count > MAX_VALUES)
      throw new ParseError('TOO_LARGE', tooManyValues(where, `shape (${h.shape.join(', ')})`, count));
    const dataStart = start + headerLen;
    const avail = bytes.length - dataStart;
    if (avail < count * d.size) {
      throw new ParseError(
        'TRUNCATED',
        `${where}: expected ${count * d.size} data bytes for shape (${h.shape.join(', ')}) but found ${avail} (truncated file).`,
      );
    }
    let data = readElements(view, dataStart, count, d.kind, d.size, d.little);
    if (h.fortran && shape.length === 2) data = fortranToC(data, shape[0], shape[1]);
    return { data, shape, dtype: dtypeName(d.kind, d.size) };
  } catch (e) {
    throw asParseError(e, 'BAD_HEADER', where);
  }
}
