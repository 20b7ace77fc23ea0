import { expect, test } from 'vitest';
import { bucketMax, minMaxDecimate } from '../shared/decimate';

test('short series pass through', () => {
  const d = minMaxDecimate([[1, 2, 3]], 0.5, 100);
  expect(Array.from(d.x)).toEqual([0, 0.5, 1]);
  expect(Array.from(d.ys[0])).toEqual([1, 2, 3]);
});

test('keeps extremes of every bucket in time order', () => {
  const y = new Float64Array(10000);
  y[1234] = 50;
  y[7777] = -20;
  const d = minMaxDecimate([y, y.map((v) => v * 2)], 1, 200);
  expect(d.x.length).toBeLessThanOrEqual(200);
  expect(Math.max(...d.ys[0])).toBe(50);
  expect(Math.min(...d.ys[0])).toBe(-20);
  expect(Math.max(...d.ys[1])).toBe(100);
  for (let i = 1; i < d.x.length; i++) expect(d.x[i]).toBeGreaterThan(d.x[i - 1]);
});

test('bucket maxima keep sparse events', () => {
  const y = new Float64Array(1000);
  y[501] = 3;
  const d = minMaxDecimate([new Float64Array(1000)], 1, 20);
  expect(Math.max(...bucketMax(y, d.x, 1))).toBe(3);
});
