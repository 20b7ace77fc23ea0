// The numeric array every parser returns: values as float64, row-major (C order), 1-D or 2-D.

export interface NumericArray {
  /** Row-major values. */
  data: Float64Array;
  /** [n] or [rows, cols]. */
  shape: number[];
  /** Source dtype, for display (e.g. "float32", "int16"). */
  dtype: string;
}

/** A named array inside a container file (.npz member or .mat variable). */
export interface NamedArray extends NumericArray {
  name: string;
}

/**
 * Drops singleton dimensions beyond two so (n, 1, t) loads as (n, t); rejects anything still above 2-D.
 * Returns null when the shape cannot be represented as 1-D/2-D.
 */
export function squeezeTo2d(shape: number[]): number[] | null {
  if (shape.length === 0) return [1]; // a 0-d scalar reads as one value
  if (shape.length <= 2) return shape;
  const kept = shape.filter((d) => d !== 1);
  if (kept.length === 0) return [1];
  return kept.length <= 2 ? kept : null;
}

/** Column-major (Fortran) data of a 2-D shape reordered to row-major. */
export function fortranToC(src: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let c = 0; c < cols; c++) {
    const base = c * rows;
    for (let r = 0; r < rows; r++) out[r * cols + c] = src[base + r];
  }
  return out;
}

/** IEEE 754 half precision to number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

export type ElemKind = 'f' | 'i' | 'u' | 'b';

/** Reads `count` elements of the given kind/size from a DataView into float64. */
export function readElements(
  view: DataView,
  offset: number,
  count: number,
  kind: ElemKind,
  size: number,
  littleEndian: boolean,
): Float64Array {
  const out = new Float64Array(count);
  const need = count * size;
  if (offset + need > view.byteLength) throw new RangeError('short data');
  let p = offset;
  const le = littleEndian;
  const rd = ((): ((q: number) => number) => {
    if (kind === 'f' && size === 8) return (q) => view.getFloat64(q, le);
    if (kind === 'f' && size === 4) return (q) => view.getFloat32(q, le);
    if (kind === 'f' && size === 2) return (q) => halfToFloat(view.getUint16(q, le));
    if ((kind === 'u' || kind === 'b') && size === 1) return (q) => view.getUint8(q);
    if (kind === 'i' && size === 1) return (q) => view.getInt8(q);
    if (kind === 'i' && size === 2) return (q) => view.getInt16(q, le);
    if (kind === 'u' && size === 2) return (q) => view.getUint16(q, le);
    if (kind === 'i' && size === 4) return (q) => view.getInt32(q, le);
    if (kind === 'u' && size === 4) return (q) => view.getUint32(q, le);
    if (kind === 'i' && size === 8) return (q) => Number(view.getBigInt64(q, le));
    if (kind === 'u' && size === 8) return (q) => Number(view.getBigUint64(q, le));
    throw new Error(`no reader for ${kind}${size}`);
  })();
  for (let i = 0; i < count; i++, p += size) out[i] = rd(p);
  if (kind === 'b') for (let i = 0; i < count; i++) out[i] = out[i] ? 1 : 0;
  return out;
}

export function dtypeName(kind: ElemKind, size: number): string {
  if (kind === 'b') return 'bool';
  return `${kind === 'f' ? 'float' : kind === 'i' ? 'int' : 'uint'}${size * 8}`;
}
