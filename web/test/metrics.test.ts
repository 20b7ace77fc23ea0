import { expect, test } from 'vitest';
import { fitSnr, gaussianSmooth, median, pearson, truthCorrelation } from '../shared/metrics';

test('gaussian smoothing keeps the sum away from the edges', () => {
  const x = new Float64Array(101);
  x[50] = 1;
  const y = gaussianSmooth(x, 3);
  expect(y.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  expect(y[50]).toBeGreaterThan(y[53]);
  expect(Array.from(gaussianSmooth([1, 2, 3], 0))).toEqual([1, 2, 3]);
});

test('pearson', () => {
  expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1);
  expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1);
  expect(Number.isNaN(pearson([1, 1, 1], [1, 2, 3]))).toBe(true);
});

test('truth correlation tolerates a one-frame offset', () => {
  const spikes = new Float64Array(600);
  const act = new Float64Array(600);
  for (let i = 20; i < 600; i += 37) {
    spikes[i] = 1;
    act[i + 1] = 0.3;
  }
  expect(truthCorrelation(act, spikes, 30)).toBeGreaterThan(0.9);
  expect(pearson(act, spikes)).toBeLessThan(0.1);
});

test('fit SNR grows with signal over noise', () => {
  const n = 2000;
  const fit = Float64Array.from({ length: n }, (_v, i) => Math.sin(i / 30));
  const noisy = (a: number) => fit.map((v, i) => v + a * ((Math.sin(i * 12.9898) * 43758.5453) % 1));
  expect(fitSnr(noisy(0.1), fit)).toBeGreaterThan(fitSnr(noisy(0.5), fit));
});

test('median ignores non-finite values', () => {
  expect(median([3, NaN, 1, 2])).toBe(2);
  expect(median([4, 1, 3, 2])).toBe(2.5);
  expect(Number.isNaN(median([]))).toBe(true);
});
