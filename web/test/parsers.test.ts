// Parsers against files written by numpy/scipy (make_fixtures.py) and against broken files.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ParseError } from '../shared/errors';
import { parseMat } from '../shared/mat';
import { parseNpy } from '../shared/npy';
import { parseNpz } from '../shared/npz';
import { parseFile } from '../shared/parse';
import { halfToFloat } from '../shared/array';

const dir = new URL('./fixtures/', import.meta.url);
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, dir)));
const expected = JSON.parse(readFileSync(new URL('expected.json', dir), 'utf8')) as Record<
  string,
  { shape?: number[]; values?: number[]; names?: string[] }
>;

function expectArray(got: { shape: number[]; data: Float64Array }, key: string): void {
  const e = expected[key];
  expect(got.shape).toEqual(e.shape);
  expect(Array.from(got.data)).toEqual(e.values);
}

function expectCode(fn: () => unknown, code: string): ParseError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
    expect((e as ParseError).code).toBe(code);
    expect((e as ParseError).message.length).toBeGreaterThan(20);
    return e as ParseError;
  }
  throw new Error(`expected ParseError ${code}`);
}

describe('npy', () => {
  const files = Object.keys(expected).filter((k) => k.endsWith('.npy'));
  test.each(files)('%s', (name) => expectArray(parseNpy(read(name), name), name));

  test('dtype names', () => {
    expect(parseNpy(read('f2_2d.npy')).dtype).toBe('float16');
    expect(parseNpy(read('u8_2d.npy')).dtype).toBe('uint64');
    expect(parseNpy(read('bool_2d.npy')).dtype).toBe('bool');
  });

  test('broken files give typed errors', () => {
    expectCode(() => parseNpy(read('truncated.npy')), 'TRUNCATED');
    expectCode(() => parseNpy(read('truncated_header.npy')), 'TRUNCATED');
    expectCode(() => parseNpy(read('bad_magic.npy')), 'BAD_MAGIC');
    expectCode(() => parseNpy(read('structured.npy')), 'UNSUPPORTED_DTYPE');
    expectCode(() => parseNpy(read('f8_3d.npy')), 'BAD_SHAPE');
    expectCode(() => parseNpy(new Uint8Array(0)), 'TRUNCATED');
  });

  test('every prefix of a valid file fails cleanly', () => {
    const good = read('f8_v2.npy');
    for (let n = 0; n < good.length; n += 7) {
      try {
        parseNpy(good.subarray(0, n));
      } catch (e) {
        expect(e).toBeInstanceOf(ParseError);
      }
    }
  });

  test('half floats', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true);
    expect(halfToFloat(0x0001)).toBeCloseTo(5.96e-8, 10);
  });
});

describe('npz', () => {
  test('stored', () => {
    const r = parseNpz(read('stored.npz'));
    expect(r.arrays.map((a) => a.name).sort()).toEqual([...(expected['stored.npz'].names ?? [])].sort());
    expectArray(r.arrays.find((a) => a.name === 'traces')!, 'stored.npz:traces');
  });
  test('deflated', () => {
    const r = parseNpz(read('deflated.npz'));
    expectArray(r.arrays.find((a) => a.name === 'traces')!, 'deflated.npz:traces');
    expectArray(r.arrays.find((a) => a.name === 'spikes')!, 'deflated.npz:spikes');
  });
  test('truncated / not zip', () => {
    expectCode(() => parseNpz(read('truncated.npz')), 'BAD_ZIP');
    expectCode(() => parseNpz(read('f8_2d.npy')), 'BAD_ZIP');
  });
});

describe('mat', () => {
  test.each(['v5.mat', 'v5_compressed.mat'])('%s', (name) => {
    const r = parseMat(read(name), name);
    expect(r.arrays.map((a) => a.name).sort()).toEqual([...(expected[name].names ?? [])].sort());
    expectArray(r.arrays.find((a) => a.name === 'traces')!, 'v5.mat:traces');
    expectArray(r.arrays.find((a) => a.name === 'counts')!, 'v5.mat:counts');
    expect(r.arrays.find((a) => a.name === 'counts')!.dtype).toBe('int16');
    expect(r.skipped.map((s) => s.name)).toContain('label');
  });
  test('v7.3 explains how to convert', () => {
    const e = expectCode(() => parseMat(read('v73.mat'), 'v73.mat'), 'MAT_V73');
    expect(e.message).toMatch(/savemat/);
    expect(e.message).toMatch(/calab convert/);
  });
  test('v4 and truncated', () => {
    expectCode(() => parseMat(read('v4.mat')), 'MAT_V4');
    expectCode(() => parseMat(read('truncated.mat')), 'TRUNCATED');
  });
});

describe('parseFile', () => {
  test('detects formats from bytes', () => {
    expect(parseFile('x.bin', read('f4_2d.npy')).format).toBe('npy');
    expect(parseFile('x.bin', read('stored.npz')).format).toBe('npz');
    expect(parseFile('x.mat', read('v5.mat')).format).toBe('mat');
    expect(parseFile('rec.npy', read('f4_2d.npy')).arrays[0].name).toBe('rec');
  });
  test('unknown and corrupt inputs', () => {
    expectCode(() => parseFile('random.bin', read('random.bin')), 'UNSUPPORTED_FORMAT');
    expectCode(() => parseFile('random.npy', read('random.bin')), 'BAD_MAGIC');
    expectCode(() => parseFile('random.mat', read('random.bin')), 'MAT_V4');
  });
});
