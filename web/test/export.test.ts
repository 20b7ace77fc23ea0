// The export written by the app validates against the one schema file Python also reads.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { expect, test } from 'vitest';
import { buildExport } from '../shared/export';

const schema = JSON.parse(readFileSync(new URL('../../schemas/catune-export.schema.json', import.meta.url), 'utf8'));

function validator() {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  // ajv-formats is CommonJS: the plugin is the default export under Node, `.default` under some bundlers.
  const addFormats = (formats as unknown as { default?: typeof formats }).default ?? formats;
  addFormats(ajv);
  return ajv.compile(schema);
}

const input = {
  params: {
    solver: 'l1' as const,
    tauRise: 0.02,
    tauDecay: 0.4,
    lambda: 0.5,
    fs: 30,
    filterEnabled: false,
    removeDrift: false,
    l0Lambda: 0.05,
    l0Positive: true,
    convarLambda: null as number | null,
  },
  kernel: { ar2: [1.1089, -0.1738, 0.92, 0.1889, 0.9018, 13.9], shape: [0.063, 0.349], lengthSamples: 170 },
  appVersion: '0.1.0',
  sourceFilename: 'rec.npy',
  numCells: 20,
  numTimepoints: 9000,
  cellIndices: [3, 1, 7],
  date: new Date('2026-01-02T03:04:05Z'),
};

test('export matches schemas/catune-export.schema.json', () => {
  const validate = validator();
  const doc = buildExport(input);
  expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
  expect(doc.ar2_coefficients.dt).toBeCloseTo(1 / 30);
  expect(doc.kernel.dc_gain).toBe(13.9);
  expect(doc.export_date).toBe('2026-01-02T03:04:05.000Z');
});

test('bridge export has a null filename', () => {
  const validate = validator();
  expect(validate(buildExport({ ...input, sourceFilename: null }))).toBe(true);
});

test('schema rejects a broken export', () => {
  const validate = validator();
  const doc = buildExport(input) as unknown as Record<string, unknown>;
  delete doc.kernel;
  expect(validate(doc)).toBe(false);
});

test('each solver exports its own parameters, valid against the schema', () => {
  const validate = validator();
  const l1 = buildExport(input);
  expect(l1.schema_version).toBe('1.3.0');
  expect(l1.parameters.solver).toBe('l1');
  expect('solver_params' in l1.parameters).toBe(false);

  const l0 = buildExport({ ...input, params: { ...input.params, solver: 'l0', removeDrift: true }, gamma: 0.92 });
  expect(validate(l0), JSON.stringify(validate.errors)).toBe(true);
  expect(l0.parameters.solver).toBe('l0');
  expect(l0.parameters.solver_params).toEqual({ lambda: 0.05, positive: true, gamma: 0.92 });
  expect(l0.formulation.objective).toMatch(/#\{t >= 2/);

  for (const lambda of [null, 0.3]) {
    const cv = buildExport({ ...input, params: { ...input.params, solver: 'convar', convarLambda: lambda } });
    expect(validate(cv), JSON.stringify(validate.errors)).toBe(true);
    expect(cv.parameters.solver_params).toEqual({ lambda, gamma: Math.exp(-1 / (0.4 * 30)) });
  }
});

test('schema: l0/convar need their parameters; 1.2.0 L1 exports stay valid', () => {
  const validate = validator();
  const l0 = buildExport({ ...input, params: { ...input.params, solver: 'l0' } }) as unknown as {
    parameters: Record<string, unknown>;
  };
  delete l0.parameters.solver_params;
  expect(validate(l0)).toBe(false);
  const bad = buildExport({ ...input, params: { ...input.params, solver: 'l0' } }) as unknown as {
    parameters: { solver_params: Record<string, unknown> };
  };
  bad.parameters.solver_params.gamma = 1.5;
  expect(validate(bad)).toBe(false);
  const old = { ...buildExport(input), schema_version: '1.2.0' };
  expect(validate(old), JSON.stringify(validate.errors)).toBe(true);
  expect(validate({ ...buildExport(input), schema_version: '2.0.0' })).toBe(false);
});
