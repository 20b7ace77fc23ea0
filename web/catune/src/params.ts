// CaTune's tunable parameters: their defaults, the span of each logarithmic slider (scaled to the data's
// noise level where the parameter is in trace units), keyboard steps, and the undo history. DOM-free, so
// the unit tests check the slider mapping and the history without a browser.

import defaults from '../../../schemas/solver-defaults.json';
import type { SolveParams, SolverKind } from '../../shared/messages';

export type NumKey = 'tauRise' | 'tauDecay' | 'lambda' | 'l0Lambda' | 'convarLambda';

export interface ParamSpec {
  key: NumKey;
  id: string;
  label: string;
  /** Short name for messages ("λ 0.01 → 0.02"). */
  short: string;
  unit: string;
  /** Solvers that use this control. */
  solvers: SolverKind[];
  help: string;
}

export const PARAMS: ParamSpec[] = [
  {
    key: 'tauRise',
    id: 'param-tau-rise',
    label: 'Rise time τ_rise',
    short: 'τ_rise',
    unit: 's',
    solvers: ['l1'],
    help: 'How fast the indicator rises after a spike. Shorter sharpens the onset of each event.',
  },
  {
    key: 'tauDecay',
    id: 'param-tau-decay',
    label: 'Decay time τ_decay',
    short: 'τ_decay',
    unit: 's',
    solvers: ['l1', 'l0', 'convar'],
    help: 'How long one spike\u2019s transient lasts. Too short leaves a tail of extra activity after each event; too long smears events together.',
  },
  {
    key: 'lambda',
    id: 'param-lambda',
    label: 'Sparsity λ',
    short: 'λ',
    unit: '',
    solvers: ['l1'],
    help: 'Penalty on activity, in the trace\u2019s unit: events smaller than about 2λ are dropped. Raise it until the noise between events is gone.',
  },
  {
    key: 'l0Lambda',
    id: 'param-l0-lambda',
    label: 'Penalty per spike λ₀',
    short: 'λ₀',
    unit: 'unit²',
    solvers: ['l0'],
    help: 'Cost of each spike, in squared trace units: a jump is kept only when it explains more than λ₀ of the squared error.',
  },
  {
    key: 'convarLambda',
    id: 'param-convar-lambda',
    label: 'Smoothness λ',
    short: 'Convar λ',
    unit: '',
    solvers: ['convar'],
    help: 'Convar penalises changes of the rate from frame to frame; larger λ gives smoother rates.',
  },
];

export const DEFAULT_PARAMS = {
  tauRise: defaults.tau_rise,
  tauDecay: defaults.tau_decay,
  lambda: defaults.lambda,
  l0Lambda: defaults.l0_lambda,
  l0Positive: true,
  convarLambda: null as number | null,
  filterEnabled: false,
  removeDrift: false,
};

/** The parameters a new session (and Reset) starts from, for a recording sampled at `fs`. */
export function defaultParams(fs: number, solver: SolverKind = 'l1'): SolveParams {
  return { solver, ...DEFAULT_PARAMS, fs };
}

/** Slider limits of every parameter. λ and λ₀ follow the data's noise level so they suit any unit. */
export type SliderRanges = Record<NumKey, [number, number]>;

/**
 * Slider spans for data whose typical noise standard deviation is `sigma` (trace units). λ spans
 * sigma/20 to 20 sigma (an isolated event is kept when its amplitude exceeds about 2 λ), λ₀ spans
 * sigma²/10 to 100 sigma². Each span also reaches the default value, so the default sits on the slider.
 */
export function sliderRanges(sigma: number): SliderRanges {
  const s = Number.isFinite(sigma) && sigma > 0 ? sigma : 0.05;
  const reach = (lo: number, hi: number, v: number): [number, number] => [Math.min(lo, v), Math.max(hi, v)];
  return {
    tauRise: [0.001, 0.5],
    tauDecay: [0.02, 5],
    lambda: reach(nice(s / 20, 'down'), nice(20 * s, 'up'), DEFAULT_PARAMS.lambda),
    l0Lambda: reach(nice((s * s) / 10, 'down'), nice(100 * s * s, 'up'), DEFAULT_PARAMS.l0Lambda),
    convarLambda: [1e-3, 100],
  };
}

/** Rounds to 1, 2 or 5 times a power of ten (down or up), so slider ends read well. */
export function nice(v: number, dir: 'up' | 'down'): number {
  const e = Math.floor(Math.log10(v));
  const steps = [1, 2, 5, 10];
  const m = v / 10 ** e;
  const pick = dir === 'up' ? steps.find((k) => k >= m - 1e-12)! : [...steps].reverse().find((k) => k <= m + 1e-12)!;
  return Number((pick * 10 ** e).toPrecision(3));
}

/** Slider positions are log10 of the value. */
export const toSlider = (v: number, r: [number, number]): number => Math.log10(Math.min(r[1], Math.max(r[0], v)));
/** Slider position to a value with 3 significant digits, so numbers stay readable. */
export const fromSlider = (x: number): number => Number((10 ** x).toPrecision(3));

/** Keyboard steps on a slider, in log10 units: an arrow key moves ~5 %, Shift or Page keys ~58 %. */
export const KEY_STEP = 0.02;
export const BIG_KEY_STEP = 0.2;
/** Factors for the arrow keys in a number field (Shift: the larger one). */
export const NUM_STEP = 1.05;
export const BIG_NUM_STEP = 1.5;

/** The new slider position for a key press, or null when the key is not a step. */
export function keyStep(key: string, shift: boolean, x: number, r: [number, number]): number | null {
  const lo = Math.log10(r[0]);
  const hi = Math.log10(r[1]);
  const small = shift ? BIG_KEY_STEP : KEY_STEP;
  let next: number;
  switch (key) {
    case 'ArrowUp':
    case 'ArrowRight':
      next = x + small;
      break;
    case 'ArrowDown':
    case 'ArrowLeft':
      next = x - small;
      break;
    case 'PageUp':
      next = x + BIG_KEY_STEP;
      break;
    case 'PageDown':
      next = x - BIG_KEY_STEP;
      break;
    case 'Home':
      next = lo;
      break;
    case 'End':
      next = hi;
      break;
    default:
      return null;
  }
  return Math.min(hi, Math.max(lo, next));
}

/** One value step of a number field (arrow up / down), 3 significant digits. */
export function numberStep(v: number, up: boolean, shift: boolean): number {
  const f = shift ? BIG_NUM_STEP : NUM_STEP;
  return Number((up ? v * f : v / f).toPrecision(3));
}

/** What changed between two parameter sets, for messages ("λ 0.01 → 0.02"). */
export function describeChange(from: SolveParams, to: SolveParams): string {
  const parts: string[] = [];
  if (from.solver !== to.solver) parts.push(`solver ${from.solver.toUpperCase()} → ${to.solver.toUpperCase()}`);
  for (const p of PARAMS)
    if (from[p.key] !== to[p.key]) parts.push(`${p.short} ${from[p.key] ?? 'auto'} → ${to[p.key] ?? 'auto'}`);
  if (from.filterEnabled !== to.filterEnabled) parts.push(`band-pass ${to.filterEnabled ? 'on' : 'off'}`);
  if (from.removeDrift !== to.removeDrift) parts.push(`drift removal ${to.removeDrift ? 'on' : 'off'}`);
  if (from.l0Positive !== to.l0Positive) parts.push(`positive spikes ${to.l0Positive ? 'on' : 'off'}`);
  return parts.join(', ') || 'nothing';
}

/**
 * Undo history of parameter sets. Changes of the same control in quick succession (a slider drag, typing
 * a number) count as one step, so Undo goes back to where the drag started.
 */
export class History {
  private stack: SolveParams[] = [];
  private last: { key: string; at: number } | null = null;

  constructor(
    private readonly limit = 100,
    private readonly mergeMs = 800,
  ) {}

  get size(): number {
    return this.stack.length;
  }

  /** Records `before` as the state to return to, unless this continues the previous change of `key`. */
  record(before: SolveParams, key: string, now: number): void {
    if (this.last && this.last.key === key && now - this.last.at < this.mergeMs) {
      this.last.at = now;
      return;
    }
    this.stack.push({ ...before });
    if (this.stack.length > this.limit) this.stack.shift();
    this.last = { key, at: now };
  }

  /** The state before the last change, removed from the history; null when there is none. */
  undo(): SolveParams | null {
    this.last = null;
    return this.stack.pop() ?? null;
  }

  /** Ends the current run of merged changes (the next change is a new step). */
  cut(): void {
    this.last = null;
  }
}
