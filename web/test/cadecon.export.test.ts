// CaDecon's export: ZIP with activity (.npy / .mat) and results.json (cell indices, failed cells listed),
// read back with fflate and the app's own parsers; and the writers on their own.
import { strFromU8, unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { parseMat } from '../shared/mat';
import { encodeMat } from '../shared/matwrite';
import { parseNpy } from '../shared/npy';
import { encodeNpy } from '../shared/npywrite';
import { buildZip, checkConsistent, resultsDocument } from '../cadecon/src/export';
import type { IndecaResult } from '../shared/indeca-protocol';

function result(over: Partial<IndecaResult> = {}): IndecaResult {
  return {
    schema_version: '1.0.0',
    app: 'cadecon',
    fs: 30,
    num_cells: 3,
    num_timepoints: 4,
    cell_indices: [0, 1, 2],
    tau_rise: 0.05,
    tau_decay: 0.5,
    beta: 1,
    tau_rise_fast: null,
    tau_decay_fast: null,
    beta_fast: null,
    fit_quality: 'good',
    kernel_r2: 0.99,
    kernel_slow: [0, 1, 0.5],
    kernel_fast: [],
    kernel_dt: 1 / 30,
    alphas: [1, null, 2],
    baselines: [0.1, null, 0.3],
    pves: [0.9, null, 0.8],
    event_rates: [1, null, 2],
    cell_errors: [{ cell: 1, code: 'CONSTANT_TRACE', message: 'cell 1 is constant' }],
    iterations: 4,
    converged: true,
    partial: false,
    config: { seed: 0 },
    ...over,
  };
}
const activity = Float32Array.from([1, 0, 2, 0, 0, 0, 0, 0, 0, 3, 0, 1]);
const prov = {
  appVersion: '0.1.0',
  engine: 'wasm' as const,
  sourceFilename: 'rec.npy',
  date: new Date('2020-01-02T03:04:05Z'),
};

describe('npy writer', () => {
  it('writes a header numpy accepts and data the reader gets back', () => {
    const bytes = encodeNpy(activity, [3, 4]);
    expect([...bytes.subarray(0, 8)]).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const hlen = bytes[8] | (bytes[9] << 8);
    expect((10 + hlen) % 64).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(10, 10 + hlen));
    expect(header).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(3, 4\), \} *\n$/);
    const back = parseNpy(bytes);
    expect(back.shape).toEqual([3, 4]);
    expect(back.dtype).toBe('float32');
    expect(Array.from(back.data)).toEqual(Array.from(activity));
    expect(parseNpy(encodeNpy(Float64Array.from([1.5, -2]), [2])).shape).toEqual([2]);
    expect(() => encodeNpy(activity, [5, 4])).toThrow(/holds 20 values/);
  });
});

describe('MAT v5 writer', () => {
  it('round-trips through the app parser (column-major, single and double)', () => {
    const bytes = encodeMat([
      { name: 'activity', data: activity, rows: 3, cols: 4 },
      { name: 'cell_indices', data: Float64Array.from([1, 2, 3]), rows: 3, cols: 1 },
    ]);
    expect(new TextDecoder().decode(bytes.subarray(0, 10))).toBe('MATLAB 5.0');
    const { arrays } = parseMat(bytes, 'out.mat');
    const a = arrays.find((x) => x.name === 'activity')!;
    expect(a.shape).toEqual([3, 4]);
    expect(a.dtype).toBe('single');
    expect(Array.from(a.data)).toEqual(Array.from(activity));
    expect(Array.from(arrays.find((x) => x.name === 'cell_indices')!.data)).toEqual([1, 2, 3]);
    expect(() => encodeMat([{ name: '1bad', data: activity, rows: 3, cols: 4 }])).toThrow(/variable name/);
  });
});

describe('CaDecon ZIP', () => {
  it('holds activity.npy, results.json with indices, failed cells and provenance, and the iterations', () => {
    const zip = unzipSync(buildZip({ result: result(), activity, format: 'npy', provenance: prov, history: [] }));
    expect(Object.keys(zip).sort()).toEqual(['activity.npy', 'iterations.json', 'results.json']);
    const act = parseNpy(zip['activity.npy']);
    expect(act.shape).toEqual([3, 4]);
    expect(act.dtype).toBe('float32');
    const doc = JSON.parse(strFromU8(zip['results.json'])) as IndecaResult;
    expect(doc.cell_indices).toEqual([0, 1, 2]);
    expect(doc.cell_errors).toEqual([{ cell: 1, code: 'CONSTANT_TRACE', message: 'cell 1 is constant' }]);
    expect(doc.alphas[1]).toBeNull();
    expect(doc.kernel_slow).toEqual([0, 1, 0.5]); // the core's final kernel, untouched
    expect(doc.provenance).toMatchObject({
      app: 'cadecon',
      engine: 'wasm',
      source_filename: 'rec.npy',
      activity_file: 'activity.npy',
      created: '2020-01-02T03:04:05.000Z',
    });
    // The failed cell's row is there, all zeros, so rows still line up with cell_indices.
    expect(Array.from(act.data.subarray(4, 8))).toEqual([0, 0, 0, 0]);
  });

  it('writes activity.mat for .mat inputs', () => {
    const zip = unzipSync(
      buildZip({ result: result(), activity, format: 'mat', provenance: { ...prov, sourceFilename: 'rec.mat' } }),
    );
    expect(Object.keys(zip).sort()).toEqual(['activity.mat', 'results.json']);
    const { arrays } = parseMat(zip['activity.mat'], 'activity.mat');
    expect(arrays.find((a) => a.name === 'activity')!.shape).toEqual([3, 4]);
    expect(JSON.parse(strFromU8(zip['results.json'])).provenance.activity_file).toBe('activity.mat');
  });

  it('refuses results that could misattribute rows', () => {
    expect(() => checkConsistent(result({ cell_indices: [0, 1] }))).toThrow(/2 cell indices for 3 cells/);
    expect(() => checkConsistent(result({ pves: [1, 2] }))).toThrow(/pves has 2 entries/);
    expect(() => checkConsistent(result({ cell_errors: [{ cell: 7, code: 'X', message: 'y' }] }))).toThrow(/cell 7/);
    expect(() =>
      buildZip({ result: result(), activity: new Float32Array(5), format: 'npy', provenance: prov }),
    ).toThrow(/expected 3 x 4/);
  });

  it('keeps bridge cell ids in the provenance', () => {
    const doc = resultsDocument(result(), { ...prov, cellIds: ['a', 'b', 'c'] }, null);
    expect(doc.provenance?.cell_ids).toEqual(['a', 'b', 'c']);
  });
});
