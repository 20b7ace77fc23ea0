// Settings -> IndecaConfig JSON: defaults straight from schemas/cadecon-config.schema.json, every field
// checked against it (ranges named in the message), cross-field rules, and the bridge session's config.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildConfig,
  checkValue,
  defaultConfig,
  fromSessionConfig,
  parseSetting,
  SETTINGS,
} from '../cadecon/src/config';

const schema = JSON.parse(
  readFileSync(new URL('../../schemas/cadecon-config.schema.json', import.meta.url), 'utf8'),
) as { properties: Record<string, { default: unknown }> };

describe('CaDecon config', () => {
  it('takes every default from the schema file', () => {
    const d = defaultConfig();
    expect(Object.keys(d).sort()).toEqual(Object.keys(schema.properties).sort());
    for (const [k, p] of Object.entries(schema.properties)) expect(d[k]).toEqual(p.default ?? null);
  });

  it('maps form fields onto schema keys', () => {
    for (const s of SETTINGS) expect(schema.properties).toHaveProperty(s.key);
    const ids = SETTINGS.map((s) => `setting-${s.id}`);
    for (const id of [
      'setting-num-subsets',
      'setting-target-coverage',
      'setting-aspect-ratio',
      'setting-seed',
      'setting-upsample-target',
      'setting-max-iterations',
      'setting-convergence-tol',
      'setting-patience',
      'setting-hp-filter',
      'setting-lp-filter',
    ])
      expect(ids).toContain(id);
  });

  it('builds the full config from changes', () => {
    const { config, errors } = buildConfig(
      { num_subsets: 3, seed: 9, upsample_target: null, hp_filter_enabled: true },
      30,
    );
    expect(errors).toEqual({});
    expect(config.num_subsets).toBe(3);
    expect(config.seed).toBe(9);
    expect(config.upsample_target).toBeNull();
    expect(config.hp_filter_enabled).toBe(true);
    expect(config.max_iterations).toBe(schema.properties.max_iterations.default);
    // Round-trips as JSON with only schema keys (the core has deny_unknown_fields).
    expect(Object.keys(JSON.parse(JSON.stringify(config))).sort()).toEqual(Object.keys(schema.properties).sort());
  });

  it('refuses out-of-range, non-integer, wrong-type and unknown values with the valid range', () => {
    expect(checkValue('target_coverage', 1.5)).toMatch(/target_coverage = 1\.5 is out of range; valid: > 0 and <= 1/);
    expect(checkValue('target_coverage', 0)).toMatch(/out of range/);
    expect(checkValue('num_subsets', 2.5)).toMatch(/whole number/);
    expect(checkValue('num_subsets', 0)).toMatch(/valid: >= 1/);
    expect(checkValue('convergence_tol', Number.NaN)).toMatch(/finite number/);
    expect(checkValue('hp_filter_enabled', 1)).toMatch(/true or false/);
    expect(checkValue('max_iterations', null)).toMatch(/needs a value/);
    expect(checkValue('upsample_target', null)).toBeNull();
    expect(checkValue('bogus', 1)).toMatch(/not an InDeCa setting/);
    const { errors } = buildConfig({ patience: 0, aspect_ratio: -1, seed: undefined });
    expect(Object.keys(errors).sort()).toEqual(['aspect_ratio', 'patience', 'seed']);
  });

  it('applies the cross-field rules from the schema description', () => {
    expect(buildConfig({ tau_rise_init: 0.1 }).errors.tau_decay_init).toMatch(/set together/);
    expect(buildConfig({ tau_rise_init: 0.5, tau_decay_init: 0.2 }).errors.tau_decay_init).toMatch(/smaller than/);
    expect(buildConfig({ tau_rise_init: 0.05, tau_decay_init: 0.4 }).errors).toEqual({});
    expect(buildConfig({ upsample_target: 10000 }, 30).errors.upsample_target).toMatch(/256 x the frame rate/);
    expect(buildConfig({ upsample_target: 300 }, 30).errors).toEqual({});
  });

  it('parses form text', () => {
    const up = SETTINGS.find((s) => s.key === 'upsample_target')!;
    const subsets = SETTINGS.find((s) => s.key === 'num_subsets')!;
    expect(parseSetting(up, '')).toBeNull();
    expect(parseSetting(up, '120')).toBe(120);
    expect(parseSetting(subsets, '')).toBeUndefined();
    expect(parseSetting(subsets, 'abc')).toBeUndefined();
    expect(parseSetting(SETTINGS.find((s) => s.kind === 'bool')!, true)).toBe(true);
  });

  it('reads a bridge session config: known fields, autorun, unknown fields reported', () => {
    const r = fromSessionConfig({ autorun: true, max_iterations: 5, seed: 3, colour: 'red' });
    expect(r.autorun).toBe(true);
    expect(r.changes).toEqual({ max_iterations: 5, seed: 3 });
    expect(r.ignored).toEqual(['colour']);
    expect(fromSessionConfig(undefined)).toEqual({ changes: {}, autorun: false, ignored: [] });
    expect(fromSessionConfig({ autorun: 'yes' }).autorun).toBe(false);
  });

  it('takes workers from a bridge session when it is an integer >= 1, and reports it otherwise', () => {
    expect(fromSessionConfig({ workers: 2, seed: 1 })).toEqual({
      changes: { seed: 1 },
      autorun: false,
      workers: 2,
      ignored: [],
    });
    for (const bad of [0, 1.5, '2', -1, null]) {
      const r = fromSessionConfig({ workers: bad });
      expect(r.workers).toBeUndefined();
      expect(r.ignored).toEqual(['workers']);
    }
  });
});
