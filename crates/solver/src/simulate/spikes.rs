//! Spike generators, event-driven in continuous time.
//!
//! Spike times are drawn from exponential waiting times rather than by testing every step of a
//! fine time grid: the result is the limit of an infinitely fine internal rate, costs O(number of
//! spikes) instead of O(duration x internal rate), and keeps each spike's position inside its frame
//! (which the calcium renderer uses). Times are in frame units (seconds x fs) so that binning is a
//! `floor`.

use rand::Rng;
use rand_distr::Exp1;
use rand_pcg::Pcg64;

/// Per-cell spike process parameters, rates already in events per frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SpikeProcess {
    Poisson {
        rate: f64,
    },
    Markov {
        /// Switching hazards per frame, silent -> active and active -> silent.
        hazard_on: f64,
        hazard_off: f64,
        active_rate: f64,
        silent_rate: f64,
    },
}

impl SpikeProcess {
    /// Mean spikes per frame of the stationary process.
    pub(crate) fn mean_rate(&self) -> f64 {
        match *self {
            SpikeProcess::Poisson { rate } => rate,
            SpikeProcess::Markov {
                hazard_on,
                hazard_off,
                active_rate,
                silent_rate,
            } => {
                let p_active = stationary_active(hazard_on, hazard_off);
                p_active * active_rate + (1.0 - p_active) * silent_rate
            }
        }
    }
}

/// Stationary probability of the active state; a chain that never switches stays silent.
fn stationary_active(hazard_on: f64, hazard_off: f64) -> f64 {
    let total = hazard_on + hazard_off;
    if total > 0.0 {
        hazard_on / total
    } else {
        0.0
    }
}

/// Waiting time of a rate-`rate` Poisson process; infinite for rate 0.
fn wait(rng: &mut Pcg64, rate: f64) -> f64 {
    if rate > 0.0 {
        let e: f64 = rng.sample(Exp1);
        e / rate
    } else {
        f64::INFINITY
    }
}

/// Iterator over spike times (frame units, increasing, all in `[0, end)`).
pub(crate) struct SpikeTrain {
    rng: Pcg64,
    process: SpikeProcess,
    end: f64,
    t: f64,
    active: bool,
    /// When the current Markov state ends (infinite for Poisson).
    state_end: f64,
}

impl SpikeTrain {
    pub(crate) fn new(process: SpikeProcess, mut rng: Pcg64, end: f64) -> Self {
        let (active, state_end) = match process {
            SpikeProcess::Poisson { .. } => (false, f64::INFINITY),
            SpikeProcess::Markov {
                hazard_on,
                hazard_off,
                ..
            } => {
                // Start in the stationary distribution so the first seconds are not special.
                let active = rng.gen::<f64>() < stationary_active(hazard_on, hazard_off);
                let hazard = if active { hazard_off } else { hazard_on };
                (active, wait(&mut rng, hazard))
            }
        };
        SpikeTrain {
            rng,
            process,
            end,
            t: 0.0,
            active,
            state_end,
        }
    }
}

impl Iterator for SpikeTrain {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        loop {
            if self.t >= self.end {
                return None;
            }
            let rate = match self.process {
                SpikeProcess::Poisson { rate } => rate,
                SpikeProcess::Markov {
                    active_rate,
                    silent_rate,
                    ..
                } => {
                    if self.active {
                        active_rate
                    } else {
                        silent_rate
                    }
                }
            };
            // Memorylessness lets the spike clock restart at every state switch.
            let candidate = self.t + wait(&mut self.rng, rate);
            if candidate < self.state_end {
                self.t = candidate;
                return (candidate < self.end).then_some(candidate);
            }
            if self.state_end >= self.end {
                self.t = self.end;
                return None;
            }
            self.t = self.state_end;
            self.active = !self.active;
            if let SpikeProcess::Markov {
                hazard_on,
                hazard_off,
                ..
            } = self.process
            {
                let hazard = if self.active { hazard_off } else { hazard_on };
                self.state_end = self.t + wait(&mut self.rng, hazard);
            }
        }
    }
}
