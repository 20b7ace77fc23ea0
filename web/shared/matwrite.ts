// Minimal MATLAB Level 5 (.mat v5) writer: uncompressed, little-endian, real float32/float64 matrices
// only. Enough for scipy.io.loadmat / MATLAB `load` to read CaDecon's activity next to .mat inputs.
// Layout per the MAT-File Format reference (MathWorks): 128-byte header, then one miMATRIX element per
// variable holding array flags, dimensions, name and column-major real data, each padded to 8 bytes.

export interface MatVariable {
  /** A valid MATLAB identifier (letter first, then letters, digits, underscores; at most 63 chars). */
  name: string;
  /** Row-major values (converted to MATLAB's column-major order here). */
  data: Float32Array | Float64Array;
  rows: number;
  cols: number;
}

const MI_INT8 = 1;
const MI_INT32 = 5;
const MI_UINT32 = 6;
const MI_SINGLE = 7;
const MI_DOUBLE = 9;
const MI_MATRIX = 14;
const MX_DOUBLE_CLASS = 6;
const MX_SINGLE_CLASS = 7;

const pad8 = (n: number): number => (n + 7) & ~7;

export function encodeMat(vars: MatVariable[], description = 'MATLAB 5.0 MAT-file, written by CaLab'): Uint8Array {
  const parts: Uint8Array[] = [];
  const header = new Uint8Array(128);
  const text = description.slice(0, 116).padEnd(116, ' ');
  for (let i = 0; i < 116; i++) header[i] = text.charCodeAt(i) & 0x7f;
  // Bytes 116..123 (subsystem data offset) stay zero: there is no subsystem data.
  const hv = new DataView(header.buffer);
  hv.setUint16(124, 0x0100, true);
  header[126] = 'I'.charCodeAt(0);
  header[127] = 'M'.charCodeAt(0);
  parts.push(header);
  for (const v of vars) parts.push(matrixElement(v));
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function matrixElement(v: MatVariable): Uint8Array {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,62}$/.test(v.name))
    throw new RangeError(`'${v.name}' is not a valid MATLAB variable name`);
  if (v.rows * v.cols !== v.data.length)
    throw new RangeError(`${v.rows} x ${v.cols} holds ${v.rows * v.cols} values, data has ${v.data.length}`);
  const single = v.data instanceof Float32Array;
  const esize = single ? 4 : 8;
  const dataBytes = v.data.length * esize;
  const nameLen = v.name.length;
  const body = 16 /* flags */ + 16 /* dims */ + 8 + pad8(nameLen) + 8 + pad8(dataBytes);
  const out = new Uint8Array(8 + body);
  const dv = new DataView(out.buffer);
  let o = 0;
  const tag = (type: number, bytes: number): void => {
    dv.setUint32(o, type, true);
    dv.setUint32(o + 4, bytes, true);
    o += 8;
  };
  tag(MI_MATRIX, body);
  tag(MI_UINT32, 8);
  dv.setUint32(o, single ? MX_SINGLE_CLASS : MX_DOUBLE_CLASS, true);
  o += 8;
  tag(MI_INT32, 8);
  dv.setInt32(o, v.rows, true);
  dv.setInt32(o + 4, v.cols, true);
  o += 8;
  tag(MI_INT8, nameLen);
  for (let i = 0; i < nameLen; i++) out[o + i] = v.name.charCodeAt(i);
  o += pad8(nameLen);
  tag(single ? MI_SINGLE : MI_DOUBLE, dataBytes);
  for (let c = 0; c < v.cols; c++) {
    for (let r = 0; r < v.rows; r++) {
      const x = v.data[r * v.cols + c];
      if (single) dv.setFloat32(o, x, true);
      else dv.setFloat64(o, x, true);
      o += esize;
    }
  }
  return out;
}
