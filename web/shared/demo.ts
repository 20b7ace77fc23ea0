// The demo generator's simulator configs: a preset at a realism level (pure: the import screen builds its
// controls from REALISM; the tests check demoConfig against schemas/simulation-config.schema.json).

export const REALISM = ['clean', 'typical', 'hard'] as const;
export type Realism = (typeof REALISM)[number];

/** A simulator config for a preset at a realism level (noise, drift and bleaching dialled up or down). */
export function demoConfig(
  presetJson: string,
  realism: Realism,
  numCells: number,
  seed: number,
  durationS = 120,
): string {
  const cfg = JSON.parse(presetJson) as Record<string, unknown> & { noise?: Record<string, unknown> };
  cfg.num_cells = numCells;
  cfg.num_timepoints = Math.round(durationS * Number(cfg.fs ?? 30));
  cfg.seed = seed;
  cfg.noise ??= {};
  const noise = cfg.noise;
  const std = Number(noise.gaussian_std ?? 0.04);
  if (realism === 'clean') {
    noise.gaussian_std = std / 4;
    cfg.drift = { model_type: 'none' };
  } else if (realism === 'hard') {
    noise.gaussian_std = std * 2;
    noise.shot_noise = true;
    cfg.drift = { model_type: 'random_walk', amplitude: 0.15, tau_s: 20 };
    cfg.photobleaching = { enabled: true, amplitude: 0.3, tau_s: 100 };
  }
  return JSON.stringify(cfg);
}
