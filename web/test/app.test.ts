// Pure pieces of the CaTune app: bridge URL parsing and the demo configs (checked against the simulator's
// JSON schema and run through the real wasm simulator).
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, test } from 'vitest';
import { bridgeFromLocation } from '../shared/bridge';
import { fmt } from '../shared/format';
import { demoConfig, REALISM } from '../shared/demo';
// @ts-expect-error: plain .mjs helper shared with the wasm package tests
import { loadSolver } from '../../tests/wasm/load.mjs';

describe('bridgeFromLocation', () => {
  test('fragment with encoded base url and token', () => {
    expect(bridgeFromLocation({ hash: '#bridge=http%3A%2F%2F127.0.0.1%3A8765%2F&token=abc', search: '' })).toEqual({
      base: 'http://127.0.0.1:8765',
      token: 'abc',
    });
  });
  test('query string fallback and absence', () => {
    expect(bridgeFromLocation({ hash: '', search: '?bridge=http://localhost:1&token=t' })).toEqual({
      base: 'http://localhost:1',
      token: 't',
    });
    expect(bridgeFromLocation({ hash: '#x=1', search: '?workers=2' })).toBeNull();
  });
});

describe('demo configs', async () => {
  const calab = (await loadSolver()) as {
    preset_names(): string[];
    preset_json(n: string): string;
    simulate(c: string): { num_cells: number; num_timepoints: number; free(): void };
  };
  const schema = JSON.parse(
    readFileSync(new URL('../../schemas/simulation-config.schema.json', import.meta.url), 'utf8'),
  );
  const validate = new Ajv2020({ strict: false }).compile(schema);
  const cases = calab.preset_names().flatMap((p) => REALISM.map((r) => [p, r] as const));
  test.each(cases)('%s / %s is a valid simulator config', (preset, realism) => {
    const cfg = demoConfig(calab.preset_json(preset), realism, 2, 3);
    expect(validate(JSON.parse(cfg)), JSON.stringify(validate.errors)).toBe(true);
    const sim = calab.simulate(cfg);
    expect(sim.num_cells).toBe(2);
    expect(sim.num_timepoints).toBeGreaterThan(100);
    sim.free();
  });
});

test('fmt', () => {
  expect(fmt(0.123456)).toBe('0.123');
  expect(fmt(1234567)).toBe('1.23e+6');
  expect(fmt(0)).toBe('0');
  // Undefined numbers (a correlation with no activity) never show as "NaN".
  expect(fmt(NaN)).toBe('–');
  expect(fmt(Infinity)).toBe('∞');
});
