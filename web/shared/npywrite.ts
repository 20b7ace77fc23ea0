// Writer for NumPy .npy files (format 1.0, little-endian, C order): what np.load reads back with the same
// dtype and shape. Used for the activity in CaDecon's ZIP export and for the bridge's /api/v1/activity.

export type NpyData = Float32Array | Float64Array;

/** `.npy` bytes of a float32 / float64 array with the given shape (product must equal data.length). */
export function encodeNpy(data: NpyData, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new RangeError(`shape (${shape.join(', ')}) holds ${count} values, data has ${data.length}`);
  const descr = data instanceof Float32Array ? '<f4' : '<f8';
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  // Magic (6) + version (2) + header length (2) + header + '\n' is padded to a multiple of 64.
  const pad = (64 - ((10 + header.length + 1) % 64)) % 64;
  header += ' '.repeat(pad) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const body = new DataView(out.buffer, 10 + header.length);
  if (data instanceof Float32Array) for (let i = 0; i < data.length; i++) body.setFloat32(4 * i, data[i], true);
  else for (let i = 0; i < data.length; i++) body.setFloat64(8 * i, data[i], true);
  return out;
}
