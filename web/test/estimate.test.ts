// CaTune's "Estimate from data" without a browser: the cell sample, the noise-based λ (checked against the
// kernel numbers of the real wasm module, and in the unit of the data), the checks on the core's JSON, the
// rounding the controls get, and the line shown next to the button. The worker and the page are covered
// by web/e2e/catune.ui.e2e.test.mjs in Chromium (and there against Python's own automatic λ).
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import * as wasm from '../../pkg/calab_solver.js';
import {
  controlTaus,
  ESTIMATE_MAX_CELLS,
  estimateCells,
  estimateSummary,
  medianLambda,
  noiseLambda,
  NOISE_LAMBDA_SIGMAS,
  parseKineticsEstimate,
  roundSig,
} from '../shared/estimate';
import type { KineticsEstimate } from '../shared/messages';

beforeAll(() => {
  wasm.initSync({ module: readFileSync(new URL('../../pkg/calab_solver_bg.wasm', import.meta.url)) });
});

const EST: KineticsEstimate = {
  tau_rise: 0.0512,
  tau_decay: 1.23456,
  learned_tau_rise: 0.0512,
  learned_tau_decay: 1.23456,
  fit_quality: 'good',
  kernel_r2: 0.987,
  iterations: 7,
  converged: true,
  warnings: [],
};

describe('cell sample', () => {
  test('the most active cells, at most ESTIMATE_MAX_CELLS, in recording order', () => {
    const ranking = Array.from({ length: 200 }, (_, i) => (i * 37) % 200);
    expect(ESTIMATE_MAX_CELLS).toBe(64);
    const cells = estimateCells(ranking);
    expect(cells).toHaveLength(64);
    expect(new Set(cells)).toEqual(new Set(ranking.slice(0, 64)));
    expect(cells).toEqual([...cells].sort((a, b) => a - b));
    expect(estimateCells([3, 1, 2])).toEqual([1, 2, 3]);
    expect(estimateCells([5, 4], 0)).toEqual([5]);
    expect(ranking.slice(0, 3)).toEqual([0, 37, 74]); // the ranking itself is left alone
  });
});

describe('noise-based λ', () => {
  test('is 2 σ ||h|| / G of the wasm kernel, linear in σ', () => {
    const h = wasm.build_kernel(0.05, 0.9, 30);
    const g = wasm.tau_to_ar2(0.05, 0.9, 30)[5];
    const norm = Math.sqrt(Array.from(h).reduce((a, v) => a + v * v, 0));
    expect(NOISE_LAMBDA_SIGMAS).toBe(2);
    expect(noiseLambda(0.1, h, g)).toBeCloseTo((2 * 0.1 * norm) / g, 12);
    expect(noiseLambda(0.3, h, g) / noiseLambda(0.1, h, g)).toBeCloseTo(3, 12);
    expect(noiseLambda(0, h, g)).toBe(0);
    // ||h|| / G below 1: a slower kernel integrates more, so the same noise needs a smaller λ per unit of activity.
    expect(norm / g).toBeLessThan(1);
  });

  test('follows the unit of the data: raw F 500 times larger gives a 500 times larger λ', () => {
    const sim = wasm.simulate(
      JSON.stringify({ ...JSON.parse(wasm.preset_json('gcamp6m')), num_cells: 1, num_timepoints: 1800, seed: 4 }),
    );
    const y = sim.traces();
    sim.free();
    const h = wasm.build_kernel(0.05, 0.9, 30);
    const g = wasm.tau_to_ar2(0.05, 0.9, 30)[5];
    const lam = noiseLambda(wasm.estimate_noise(y), h, g);
    const lamRaw = noiseLambda(wasm.estimate_noise(y.map((v) => 500 * v + 300)), h, g);
    expect(lam).toBeGreaterThan(0);
    expect(lamRaw / lam).toBeCloseTo(500, 1);
  });

  test('refuses a non-finite σ or a kernel without gain, with a code', () => {
    const h = [1, 0.5];
    expect(() => noiseLambda(NaN, h, 1)).toThrow(expect.objectContaining({ code: 'INVALID_PARAMETER' }));
    expect(() => noiseLambda(-1, h, 1)).toThrow(/finite number >= 0/);
    expect(() => noiseLambda(1, [], 1)).toThrow(expect.objectContaining({ code: 'INVALID_PARAMETER' }));
    expect(() => noiseLambda(1, h, 0)).toThrow(/DC gain/);
  });

  test('the median over cells leaves out non-finite ones and fails visibly when none is left', () => {
    expect(medianLambda([0.3, NaN, 0.1, 0.2])).toBe(0.2);
    expect(medianLambda([0.123456, 0.2])).toBe(0.162);
    expect(() => medianLambda([NaN, Infinity])).toThrow(expect.objectContaining({ code: 'NO_DATA' }));
    expect(() => medianLambda([])).toThrow(/no cell gave a finite noise level/);
  });
});

describe('the core answer', () => {
  test('reads the fields the core serialises (crates/solver/src/auto.rs KineticsEstimate)', () => {
    // What serde_json writes for the struct: the field names in declaration order.
    const json =
      '{"tau_rise":0.05,"tau_decay":0.9,"learned_tau_rise":0.001,"learned_tau_decay":0.9,"fit_quality":"fair","kernel_r2":0.81,' +
      '"iterations":12,"converged":false,"warnings":["tau_rise 0.001 s is implausibly fast; using 0.05 s"]}';
    const est = parseKineticsEstimate(json);
    expect(est).toEqual({
      tau_rise: 0.05,
      tau_decay: 0.9,
      learned_tau_rise: 0.001,
      learned_tau_decay: 0.9,
      fit_quality: 'fair',
      kernel_r2: 0.81,
      iterations: 12,
      converged: false,
      warnings: ['tau_rise 0.001 s is implausibly fast; using 0.05 s'],
    });
  });

  test('refuses malformed or unusable answers with INVALID_STATE', () => {
    expect(() => parseKineticsEstimate('not json')).toThrow(expect.objectContaining({ code: 'INVALID_STATE' }));
    const { kernel_r2: _dropped, ...noR2 } = EST;
    expect(() => parseKineticsEstimate(JSON.stringify(noR2))).toThrow(/no number "kernel_r2"/);
    expect(() => parseKineticsEstimate(JSON.stringify({ ...EST, tau_rise: 2 }))).toThrow(/not a usable kernel/);
    expect(() => parseKineticsEstimate('null')).toThrow(expect.objectContaining({ code: 'INVALID_STATE' }));
    expect(parseKineticsEstimate(JSON.stringify({ ...EST, warnings: ['clamped'] })).warnings).toEqual(['clamped']);
  });

  test('the controls get 3 significant digits, rise below decay', () => {
    expect(roundSig(1.23456)).toBe(1.23);
    expect(controlTaus(EST)).toEqual({ tauRise: 0.0512, tauDecay: 1.23 });
    expect(controlTaus({ ...EST, tau_rise: 0.99951, tau_decay: 1.0004 })).toEqual({ tauRise: 0.5, tauDecay: 1 });
  });
});

describe('the line next to the button', () => {
  test('says which cells, the taus, the fit, what was corrected and the λ', () => {
    const r = { estimate: EST, tauRise: 0.0512, tauDecay: 1.23, lambda: 0.0123, nCells: 64 };
    const s = estimateSummary(r, 200, 'a.u.');
    expect(s).toBe(
      'From the 64 most active of 200 cells: τ_rise 0.0512 s, τ_decay 1.23 s, fit good (R² 0.987); λ 0.0123 a.u. from the noise.',
    );
    expect(estimateSummary({ ...r, nCells: 12 }, 12, 'F')).toMatch(
      /^From all 12 cells: .* λ 0\.0123 F from the noise\.$/,
    );
    const corrected = estimateSummary(
      { ...r, estimate: { ...EST, learned_tau_decay: 12.5, tau_decay: 5, converged: false } },
      64,
      'a.u.',
    );
    expect(corrected).toContain('(learned 0.0512 / 12.5 s)');
    expect(corrected).toContain('loop not settled');
  });
});
