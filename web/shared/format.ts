// Numbers as the apps show them (pure: used by the views and the tests).

/** A number for display: `digits` decimals, exponent form when tiny or huge, "–" when undefined (NaN). */
export function fmt(v: number, digits = 3): string {
  if (Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return Number(v.toFixed(digits)).toString();
}
