// Settings <-> IndecaConfig JSON. The defaults, types and ranges come from schemas/cadecon-config.schema.json
// (the single source of truth, shared with Rust and Python). The UI edits a few fields; every other field
// keeps its default or the value the Python user passed through the bridge session.

import configSchema from '../../../schemas/cadecon-config.schema.json';

export type ConfigValue = number | boolean | null;
export type IndecaConfig = Record<string, ConfigValue>;

interface PropSchema {
  type?: string | string[];
  default?: ConfigValue;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  description?: string;
}

export interface ConfigSchema {
  properties: Record<string, PropSchema>;
}

export const CONFIG_SCHEMA = configSchema as unknown as ConfigSchema;

export function defaultConfig(schema: ConfigSchema = CONFIG_SCHEMA): IndecaConfig {
  const out: IndecaConfig = {};
  for (const [k, p] of Object.entries(schema.properties)) out[k] = p.default ?? null;
  return out;
}

export type SettingKind = 'int' | 'number' | 'optional-number' | 'bool';

export interface SettingSpec {
  key: string;
  /** data-testid suffix: setting-<id>. */
  id: string;
  label: string;
  kind: SettingKind;
  step?: number;
  help: string;
  /** Shown under "More settings" (folded by default). */
  advanced?: boolean;
}

export const SETTINGS: SettingSpec[] = [
  {
    key: 'upsample_target',
    id: 'upsample-target',
    label: 'Spike time resolution (Hz)',
    kind: 'optional-number',
    step: 10,
    help: 'Spikes are placed on a grid this fine (a whole multiple of the frame rate); empty: one per frame.',
  },
  {
    key: 'max_iterations',
    id: 'max-iterations',
    label: 'Max iterations',
    kind: 'int',
    step: 1,
    help: 'The run stops after this many kernel updates even if the kernel still changes.',
  },
  {
    key: 'hp_filter_enabled',
    id: 'hp-filter',
    label: 'High-pass filter (remove drift)',
    kind: 'bool',
    help: 'Removes slow baseline drift before deconvolution.',
  },
  {
    key: 'lp_filter_enabled',
    id: 'lp-filter',
    label: 'Low-pass filter (denoise)',
    kind: 'bool',
    help: 'Removes noise faster than the kernel rise.',
  },
  {
    key: 'num_subsets',
    id: 'num-subsets',
    label: 'Subsets',
    kind: 'int',
    step: 1,
    advanced: true,
    help: 'Blocks of cells × time the kernel is estimated on in each iteration.',
  },
  {
    key: 'target_coverage',
    id: 'target-coverage',
    label: 'Coverage',
    kind: 'number',
    step: 0.05,
    advanced: true,
    help: 'Fraction of the recording the subsets cover together (0–1].',
  },
  {
    key: 'aspect_ratio',
    id: 'aspect-ratio',
    label: 'Aspect ratio',
    kind: 'number',
    step: 0.1,
    advanced: true,
    help: 'Shape of each subset: larger is longer in time and fewer cells.',
  },
  {
    key: 'convergence_tol',
    id: 'convergence-tol',
    label: 'Tolerance',
    kind: 'number',
    step: 0.001,
    advanced: true,
    help: 'An iteration counts as converged when the kernel shape changes by less than this (relative).',
  },
  {
    key: 'patience',
    id: 'patience',
    label: 'Patience',
    kind: 'int',
    step: 1,
    advanced: true,
    help: 'Converged iterations in a row needed to stop.',
  },
  {
    key: 'seed',
    id: 'seed',
    label: 'Seed',
    kind: 'int',
    step: 1,
    advanced: true,
    help: 'Where the subsets fall; the same data, settings and seed give the same answer.',
  },
];

const typesOf = (p: PropSchema): string[] => (Array.isArray(p.type) ? p.type : p.type ? [p.type] : []);

/** Checks one value against its schema entry; returns a message naming the value and the valid range, or null. */
export function checkValue(key: string, v: unknown, schema: ConfigSchema = CONFIG_SCHEMA): string | null {
  const p = schema.properties[key];
  if (!p) return `${key} is not an InDeCa setting.`;
  const types = typesOf(p);
  if (v === null) return types.includes('null') ? null : `${key} needs a value.`;
  if (types.includes('boolean') && !types.includes('number') && !types.includes('integer')) {
    return typeof v === 'boolean' ? null : `${key} must be true or false, got ${String(v)}.`;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) return `${key} must be a finite number, got ${String(v)}.`;
  if (types.includes('integer') && !Number.isInteger(v)) return `${key} must be a whole number, got ${v}.`;
  const range = rangeText(p);
  if (p.minimum !== undefined && v < p.minimum) return `${key} = ${v} is out of range; valid: ${range}.`;
  if (p.maximum !== undefined && v > p.maximum) return `${key} = ${v} is out of range; valid: ${range}.`;
  if (p.exclusiveMinimum !== undefined && v <= p.exclusiveMinimum)
    return `${key} = ${v} is out of range; valid: ${range}.`;
  if (p.exclusiveMaximum !== undefined && v >= p.exclusiveMaximum)
    return `${key} = ${v} is out of range; valid: ${range}.`;
  return null;
}

function rangeText(p: PropSchema): string {
  const lo =
    p.minimum !== undefined ? `>= ${p.minimum}` : p.exclusiveMinimum !== undefined ? `> ${p.exclusiveMinimum}` : '';
  const hi =
    p.maximum !== undefined ? `<= ${p.maximum}` : p.exclusiveMaximum !== undefined ? `< ${p.exclusiveMaximum}` : '';
  return [lo, hi].filter(Boolean).join(' and ') || 'any finite number';
}

/** Parses a form field's text into a config value (empty optional numbers become null). */
export function parseSetting(spec: SettingSpec, text: string | boolean): ConfigValue | undefined {
  if (spec.kind === 'bool') return Boolean(text);
  const t = String(text).trim();
  if (t === '') return spec.kind === 'optional-number' ? null : undefined;
  const v = Number(t);
  return Number.isFinite(v) ? v : undefined;
}

export interface ConfigCheck {
  config: IndecaConfig;
  /** Per key: what is wrong with it. Empty when the config can run. */
  errors: Record<string, string>;
}

/**
 * The full IndecaConfig from the defaults and the changes, every field checked against the schema.
 * Unknown keys are errors (Rust's IndecaConfig has deny_unknown_fields).
 */
export function buildConfig(
  changes: Record<string, unknown>,
  fs?: number,
  schema: ConfigSchema = CONFIG_SCHEMA,
): ConfigCheck {
  const config = defaultConfig(schema);
  const errors: Record<string, string> = {};
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) {
      errors[k] = `${k} needs a value.`;
      continue;
    }
    const err = checkValue(k, v, schema);
    if (err) errors[k] = err;
    else config[k] = v as ConfigValue;
  }
  // Cross-field rules the schema states in words (its description).
  const tr = config.tau_rise_init,
    td = config.tau_decay_init;
  if ((tr === null) !== (td === null))
    errors.tau_decay_init ??= 'tau_rise_init and tau_decay_init must be set together (or both left empty).';
  else if (typeof tr === 'number' && typeof td === 'number' && !(tr < td))
    errors.tau_decay_init ??= `tau_rise_init (${tr} s) must be smaller than tau_decay_init (${td} s).`;
  const up = config.upsample_target;
  if (fs !== undefined && typeof up === 'number' && up / fs > 256 && !errors.upsample_target) {
    errors.upsample_target = `upsample_target = ${up} Hz is more than 256 x the frame rate (${fs} Hz); valid: <= ${256 * fs} Hz.`;
  }
  return { config, errors };
}

/**
 * Changes from a bridge session's `config` (the DeconConfig fields the Python user set, plus `autorun` and
 * `workers`, the browser workers a run may use). Fields the app does not know, and a `workers` that is not
 * an integer >= 1, are reported, not sent on (the core would refuse them).
 */
export function fromSessionConfig(
  cfg: Record<string, unknown> | undefined,
  schema: ConfigSchema = CONFIG_SCHEMA,
): { changes: Record<string, unknown>; autorun: boolean; workers?: number; ignored: string[] } {
  const changes: Record<string, unknown> = {};
  const ignored: string[] = [];
  let autorun = false;
  let workers: number | undefined;
  for (const [k, v] of Object.entries(cfg ?? {})) {
    if (k === 'autorun') autorun = v === true;
    else if (k === 'workers' && Number.isInteger(v) && (v as number) >= 1) workers = v as number;
    else if (k in schema.properties) changes[k] = v;
    else ignored.push(k);
  }
  return { changes, autorun, ...(workers ? { workers } : {}), ignored };
}
