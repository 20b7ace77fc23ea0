// Hostile files through the browser's parsers (the probe's list): each is refused with a typed ParseError
// before anything large is allocated or inflated, or read correctly. Built by web/e2e/hostile.mjs.
import { deflateRawSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ParseError } from '../shared/errors';
import { MAX_INFLATED_BYTES, MAX_VALUES } from '../shared/limits';
import { parseMat } from '../shared/mat';
import { parseNpy } from '../shared/npy';
import { crc32, parseNpz } from '../shared/npz';
import { parseFile } from '../shared/parse';
import { toMatrix, validateMatrix } from '../shared/traces';
import { f8Npy, matBytes, member, npyBytes, zipBomb, zipBytes } from '../e2e/hostile.mjs';

function refused(fn: () => unknown, code: string, pattern?: RegExp): ParseError {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(ParseError);
    expect((e as ParseError).code, (e as Error).message).toBe(code);
    if (pattern) expect((e as Error).message).toMatch(pattern);
    return e as ParseError;
  }
  throw new Error(`expected ParseError ${code}`);
}

describe('limits come from schemas/trace-files.json', () => {
  test('the same numbers Python reads', () => {
    const doc = JSON.parse(readFileSync(new URL('../../schemas/trace-files.json', import.meta.url), 'utf8'));
    expect(MAX_VALUES).toBe(doc.max_values);
    expect(MAX_INFLATED_BYTES).toBe(doc.max_file_bytes);
    expect(doc.properties.max_values.const).toBe(doc.max_values);
  });
});

describe('.npy', () => {
  test('a header declaring 1 x 268,435,456 frames is refused before allocating', () => {
    // The header alone: the data is not there, but the size is refused first, with a way out.
    const e = refused(
      () => parseNpy(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 268435456), }"), 'huge.npy'),
      'TOO_LARGE',
    );
    expect(e.message).toMatch(/268,435,456 values/);
    expect(e.message).toMatch(/fewer cells|shorter stretch/);
  });
  test('terabyte and absurd shapes', () => {
    refused(
      () => parseNpy(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }")),
      'TOO_LARGE',
    );
    refused(
      () => parseNpy(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999, 2), }")),
      'TOO_LARGE',
    );
    refused(() => parseNpy(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (-3, 4), }")), 'BAD_HEADER');
    refused(() => parseNpy(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3e2, 4), }")), 'BAD_HEADER');
    refused(() => parseNpy(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,,4), }")), 'BAD_HEADER');
  });
  test('0 cells or 0 timepoints are refused, a 1-tuple is fine', () => {
    refused(() => parseNpy(f8Npy([0, 100], [])), 'EMPTY', /no values/);
    refused(() => parseNpy(f8Npy([100, 0], [])), 'EMPTY');
    refused(() => parseNpy(f8Npy([0], [])), 'EMPTY');
    expect(parseNpy(f8Npy([3], [1, 2, 3])).shape).toEqual([3]);
  });
  test('a header longer than numpy writes is refused without decoding it', () => {
    const big = new Uint8Array(12 + (1 << 20));
    big.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
    new DataView(big.buffer).setUint32(8, 1 << 20, true);
    refused(() => parseNpy(big), 'BAD_HEADER', /header/);
  });
});

describe('.npz', () => {
  const good = f8Npy([2, 3], [1, 2, 3, 4, 5, 6]);

  test('the zip bomb (2 MB inflating to 1 x 268,435,456 frames) is refused before inflating', () => {
    const bomb = zipBomb();
    expect(bomb.length).toBeLessThan(3 * 1024 * 1024);
    refused(() => parseNpz(bomb, 'bomb.npz'), 'TOO_LARGE', /nothing was inflated/);
  });
  test('a bomb lying about its size stops inflating at the claim', () => {
    refused(
      () => parseNpz(zipBomb(1 << 20), 'liar.npz'),
      'BAD_ZIP',
      /inflates to more than the 1048576 bytes it declares/,
    );
  });
  test('a claim no deflate stream can meet is refused without inflating', () => {
    const garbage = new Uint8Array(100).fill(0xff); // not even valid deflate
    refused(
      () => parseNpz(zipBytes([{ name: 'x.npy', method: 8, data: garbage, size: 500_000, crc: 0 }])),
      'BAD_ZIP',
      /cannot inflate/,
    );
  });
  test('a bad CRC is refused (deflated and stored)', () => {
    for (const method of [8, 0]) {
      const m = member('traces.npy', good, method);
      expect(parseNpz(zipBytes([m])).arrays[0].shape).toEqual([2, 3]);
      refused(() => parseNpz(zipBytes([{ ...m, crc: m.crc ^ 1 }]), 'crc.npz'), 'BAD_CRC', /CRC-32/);
    }
    // a flipped value byte in a stored member: the data no longer matches its CRC
    const flipped = member('traces.npy', good, 0);
    const data = flipped.data.slice();
    data[data.length - 3] ^= 0x40;
    refused(() => parseNpz(zipBytes([{ ...flipped, data }])), 'BAD_CRC');
  });
  test('a damaged member taints the archive even next to a good one', () => {
    const m = member('b.npy', good);
    refused(() => parseNpz(zipBytes([member('a.npy', good), { ...m, crc: m.crc ^ 1 }])), 'BAD_CRC');
  });
  test('an archive of only empty arrays is EMPTY; odd members are skipped', () => {
    refused(() => parseNpz(zipBytes([member('traces.npy', f8Npy([0, 5], []))])), 'EMPTY');
    const r = parseNpz(zipBytes([member('traces.npy', good), member('readme.txt', new TextEncoder().encode('hi'))]));
    expect(r.skipped.map((s) => s.name)).toEqual(['readme.txt']);
  });
  test('members summing past the limit are refused together', () => {
    const half = {
      name: 'a.npy',
      method: 8,
      data: new Uint8Array(deflateRawSync(new Uint8Array(10))),
      size: Math.ceil(MAX_INFLATED_BYTES / 2) + 1,
      crc: 0,
    };
    refused(() => parseNpz(zipBytes([half, { ...half, name: 'b.npy' }])), 'TOO_LARGE');
  });
  test('crc32 is the zip CRC', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});

describe('.mat', () => {
  test('negative dimensions are refused, not shown as "-3 cells"', () => {
    refused(() => parseMat(matBytes('traces', [-3, 5], [1, 2, 3]), 'neg.mat'), 'BAD_SHAPE', /negative/);
  });
  test('dimensions declaring too many values are refused before reading', () => {
    refused(() => parseMat(matBytes('traces', [1, 268435456], [1, 2]), 'big.mat'), 'TOO_LARGE', /268,435,456 values/);
    refused(() => parseMat(matBytes('traces', [65536, 65536], [1, 2]), 'big.mat'), 'TOO_LARGE');
  });
  test('zero cells is EMPTY', () => {
    refused(() => parseMat(matBytes('traces', [0, 5], [])), 'EMPTY');
  });
  test('a stored fs is used, under the names Python reads', () => {
    const p = parseFile('rec.mat', matBytes('traces', [2, 3], [1, 2, 3, 4, 5, 6], 12.5));
    expect(p.fs).toEqual({ value: 12.5, name: 'fs' });
    expect(p.arrays.find((a) => a.name === 'traces')!.shape).toEqual([2, 3]);
    expect(parseFile('x.mat', matBytes('traces', [2, 3], [1, 2, 3, 4, 5, 6])).fs).toBeUndefined();
    expect(parseFile('x.mat', matBytes('traces', [2, 3], [1, 2, 3, 4, 5, 6], -1)).fs).toBeUndefined();
    // Beyond max_sampling_rate_hz (schemas/trace-files.json) a number is not a frame rate, here as in Python.
    expect(parseFile('x.mat', matBytes('traces', [2, 3], [1, 2, 3, 4, 5, 6], 1e308)).fs).toBeUndefined();
  });
});

describe('values', () => {
  test('finite float64 beyond float32 is reported as such, not as infinite', () => {
    const arr = parseNpy(f8Npy([1, 12], [1, 2, 1e300, 3, 4, -1e39, 5, Infinity, 6, 7, 8, 9]));
    const m = toMatrix(arr);
    const rep = validateMatrix(m);
    expect(rep.overflowCount).toBe(2);
    expect(rep.infCount).toBe(1);
    expect(rep.warnings.join(' ')).toMatch(/0 NaN and 1 infinite values/);
    expect(rep.warnings.join(' ')).toMatch(/2 finite values beyond the float32 range/);
    expect(Array.from(m.data).every(Number.isFinite)).toBe(true);
    // just above float32's largest value rounds to it: not an overflow
    expect(toMatrix(parseNpy(f8Npy([2], [3.4028235e38, 1]))).overflowCount).toBe(0);
  });
  test('a stored fs in an .npz is used too', () => {
    const fsNpy = npyBytes(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
      new Uint8Array(new Float64Array([7.5]).buffer),
    );
    const p = parseFile(
      'rec.npz',
      zipBytes([member('traces.npy', f8Npy([2, 3], [1, 2, 3, 4, 5, 6])), member('fs.npy', fsNpy)]),
    );
    expect(p.fs).toEqual({ value: 7.5, name: 'fs' });
  });
});
