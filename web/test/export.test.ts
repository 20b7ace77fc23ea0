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
  params: { tauRise: 0.02, tauDecay: 0.4, lambda: 0.5, fs: 30, filterEnabled: false, removeDrift: false },
  kernel: { ar2: [1.1089, -0.1738, 0.92, 0.1889, 0.9018, 13.9], shape: [0.063, 0.349], lengthSamples: 170 },
  appVersion: '0.1.0', sourceFilename: 'rec.npy', numCells: 20, numTimepoints: 9000, cellIndices: [3, 1, 7],
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
