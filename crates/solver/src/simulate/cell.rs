//! One cell's simulation: its random streams, its realised parameters and its traces.
//!
//! Every cell owns independent PCG streams keyed by (seed, cell index, purpose), one per purpose:
//! parameters, spikes, drift, Gaussian noise, shot noise. So a cell's output never depends on how
//! many cells are simulated, and turning one stage on or off (say shot noise) leaves the random
//! draws of the other stages untouched.

use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;

use super::config::{DriftModel, SimulationConfig, SpikeModel, MAX_RATE_HZ};
use super::poisson;
use super::spikes::{SpikeProcess, SpikeTrain};

/// What a random stream is used for; part of the stream key.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
pub(crate) enum Purpose {
    Params = 1,
    Spikes = 2,
    Drift = 3,
    Noise = 4,
    ShotNoise = 5,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random stream of one (seed, cell, purpose). The state is a hash of all three, and the PCG
/// stream selector (increment) differs for every (cell, purpose), so streams never coincide.
pub(crate) fn rng_for(seed: u64, cell: usize, purpose: Purpose) -> Pcg64 {
    let cell = cell as u64;
    let p = purpose as u64;
    let a = splitmix64(seed ^ splitmix64(cell ^ (p << 56)));
    let b = splitmix64(a ^ 0xD1B5_4A32_D192_ED03);
    let state = ((a as u128) << 64) | b as u128;
    let stream = ((splitmix64(seed) as u128) << 64) | ((cell as u128) << 8) | p as u128;
    let mut rng = Pcg64::new(state, stream);
    // Discard one output so the first draw already mixes the increment in.
    let _ = rand::RngCore::next_u64(&mut rng);
    rng
}

/// Log-normal draw with mean `nominal` and coefficient of variation `cv`, from a standard normal
/// `z`. `cv = 0` returns `nominal` exactly.
fn vary(nominal: f64, cv: f64, z: f64) -> f64 {
    if cv == 0.0 {
        return nominal;
    }
    let var = (cv * cv).ln_1p();
    nominal * (var.sqrt() * z - 0.5 * var).exp()
}

/// Peak of exp(-t/tau_decay) - exp(-t/tau_rise) over t >= 0 (requires tau_rise < tau_decay).
pub(crate) fn kernel_peak(tau_rise: f64, tau_decay: f64) -> f64 {
    let t_peak = tau_decay * tau_rise * (tau_decay / tau_rise).ln() / (tau_decay - tau_rise);
    crate::kernel::biexp(t_peak, tau_rise, tau_decay)
}

/// Realised per-cell parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CellParams {
    pub alpha: f64,
    pub tau_rise: f64,
    pub tau_decay: f64,
    pub baseline: f64,
    pub noise_std: f64,
    pub process: SpikeProcess,
    pub drift_amplitude: f64,
    pub bleaching_amplitude: f64,
    pub bleaching_tau_s: f64,
    pub saturation_kd: f64,
}

impl CellParams {
    /// Draw one cell's parameters. A standard normal is drawn for every parameter in a fixed order
    /// whether or not its cv is zero, so changing one cv never shifts another parameter's draw.
    pub(crate) fn draw(config: &SimulationConfig, cell: usize) -> Self {
        let mut rng = rng_for(config.seed, cell, Purpose::Params);
        let mut z = [0.0f64; 10];
        for v in z.iter_mut() {
            *v = StandardNormal.sample(&mut rng);
        }
        let k = &config.kernel;
        let mut tau_rise = vary(k.tau_rise, k.tau_rise_cv, z[1]);
        let mut tau_decay = vary(k.tau_decay, k.tau_decay_cv, z[2]);
        // Independent draws may cross. The peak-normalised kernel is symmetric in its two time
        // constants, so sorting them keeps the same waveform; a tiny gap avoids the 0/0 limit.
        if tau_rise > tau_decay {
            std::mem::swap(&mut tau_rise, &mut tau_decay);
        }
        if tau_decay <= tau_rise * (1.0 + 1e-6) {
            tau_decay = tau_rise * (1.0 + 1e-6);
        }
        let fs = config.fs;
        let process = match &config.spike_model {
            SpikeModel::Poisson(p) => SpikeProcess::Poisson {
                rate: vary(p.rate_hz, p.rate_cv, z[4]).min(MAX_RATE_HZ) / fs,
            },
            SpikeModel::Markov(m) => {
                let factor = vary(1.0, m.rate_cv, z[4]);
                SpikeProcess::Markov {
                    hazard_on: -(-m.p_silent_to_active).ln_1p() / fs,
                    hazard_off: -(-m.p_active_to_silent).ln_1p() / fs,
                    active_rate: (m.active_rate_hz * factor).min(MAX_RATE_HZ) / fs,
                    silent_rate: (m.silent_rate_hz * factor).min(MAX_RATE_HZ) / fs,
                }
            }
        };
        let drift_amplitude = match &config.drift {
            DriftModel::RandomWalk(d) => vary(d.amplitude, d.amplitude_cv, z[6]),
            DriftModel::Sinusoidal(d) => vary(d.amplitude, d.amplitude_cv, z[6]),
            DriftModel::None => 0.0,
        };
        let b = &config.photobleaching;
        let s = &config.saturation;
        CellParams {
            alpha: vary(config.alpha, config.alpha_cv, z[0]),
            tau_rise,
            tau_decay,
            baseline: vary(config.baseline, config.baseline_cv, z[3]),
            noise_std: vary(
                config.noise.gaussian_std,
                config.noise.gaussian_std_cv,
                z[5],
            ),
            process,
            drift_amplitude,
            bleaching_amplitude: if b.enabled {
                vary(b.amplitude, b.amplitude_cv, z[7]).min(1.0)
            } else {
                0.0
            },
            bleaching_tau_s: vary(b.tau_s, b.tau_s_cv, z[8]),
            saturation_kd: vary(s.kd, s.kd_cv, z[9]),
        }
    }
}

/// Render binned spike counts and the noise-free calcium (ΔF units) at the frame times t_k = k/fs.
///
/// The calcium is the continuous-time response alpha * h(t - t_s) / h_peak to every spike, sampled
/// exactly at t_k, so a spike late in its frame contributes less to the next sample than one early
/// in it. Each exponential is carried as a running sum updated once per frame, which is O(frames +
/// spikes). Spikes are counted in the frame whose time stamp is nearest (t_s in
/// [t_k - 1/(2 fs), t_k + 1/(2 fs)), the last half frame going to the last frame), the binning of
/// electrophysiological ground truth and of the solvers' reported activity; a spike counted in
/// frame k first shows at sample k (when it came before t_k) or k + 1.
pub(crate) fn render_calcium(
    spike_times: impl Iterator<Item = f64>,
    fs: f64,
    tau_rise: f64,
    tau_decay: f64,
    alpha: f64,
    spikes: &mut [f64],
    calcium: &mut [f64],
) {
    let frames = spikes.len();
    debug_assert_eq!(frames, calcium.len());
    spikes.fill(0.0);
    let inv_decay = 1.0 / (fs * tau_decay); // per frame
    let inv_rise = 1.0 / (fs * tau_rise);
    let d = (-inv_decay).exp();
    let r = (-inv_rise).exp();
    let scale = alpha / kernel_peak(tau_rise, tau_decay);
    let mut spike_times = spike_times.peekable();
    let (mut slow, mut fast) = (0.0f64, 0.0f64);
    for (k, ca) in calcium.iter_mut().enumerate() {
        *ca = scale * (slow - fast);
        let next_frame = (k + 1) as f64;
        let (mut add_slow, mut add_fast) = (0.0, 0.0);
        while let Some(&u) = spike_times.peek() {
            if u >= next_frame {
                break;
            }
            spike_times.next();
            let nearest = ((u + 0.5).floor().max(0.0) as usize).min(frames - 1);
            spikes[nearest] += 1.0;
            let lag = next_frame - u; // frames until the next sample, in (0, 1]
            add_slow += (-lag * inv_decay).exp();
            add_fast += (-lag * inv_rise).exp();
        }
        slow = slow * d + add_slow;
        fast = fast * r + add_fast;
    }
}

/// Hill saturation in single-spike units, scaled so that c = alpha maps to alpha.
pub(crate) struct Saturation {
    alpha: f64,
    kd: f64,
    n: f64,
    gain: f64,
}

impl Saturation {
    pub(crate) fn new(alpha: f64, kd: f64, n: f64) -> Self {
        Saturation {
            alpha,
            kd,
            n,
            gain: alpha * (1.0 + kd.powf(n)),
        }
    }

    pub(crate) fn apply(&self, c: f64) -> f64 {
        if c <= 0.0 {
            return 0.0;
        }
        let u = c / self.alpha;
        self.gain / (1.0 + (self.kd / u).powf(self.n))
    }
}

/// Simulate one cell into its output row and ground-truth buffers.
pub(crate) fn simulate_cell(
    config: &SimulationConfig,
    cell: usize,
    params: &CellParams,
    trace: &mut [f64],
    spikes: &mut [f64],
    calcium: &mut [f64],
) {
    let frames = trace.len();
    let fs = config.fs;
    let train = SpikeTrain::new(
        params.process,
        rng_for(config.seed, cell, Purpose::Spikes),
        frames as f64,
    );
    render_calcium(
        train,
        fs,
        params.tau_rise,
        params.tau_decay,
        params.alpha,
        spikes,
        calcium,
    );

    // Noise-free fluorescence: baseline + saturated calcium.
    if config.saturation.enabled {
        let sat = Saturation::new(params.alpha, params.saturation_kd, config.saturation.n);
        for (f, &c) in trace.iter_mut().zip(calcium.iter()) {
            *f = params.baseline + sat.apply(c);
        }
    } else {
        for (f, &c) in trace.iter_mut().zip(calcium.iter()) {
            *f = params.baseline + c;
        }
    }

    // Additive drift.
    match &config.drift {
        DriftModel::RandomWalk(d) => {
            let mut rng = rng_for(config.seed, cell, Purpose::Drift);
            let per_frame = 1.0 / (fs * d.tau_s);
            let a = (-per_frame).exp();
            let innovation = params.drift_amplitude * (-(-2.0 * per_frame).exp_m1()).sqrt();
            let z0: f64 = StandardNormal.sample(&mut rng);
            let mut x = params.drift_amplitude * z0;
            for f in trace.iter_mut() {
                *f += x;
                let z: f64 = StandardNormal.sample(&mut rng);
                x = x * a + innovation * z;
            }
        }
        DriftModel::Sinusoidal(d) => {
            let w = std::f64::consts::TAU / (fs * d.period_s);
            for (k, f) in trace.iter_mut().enumerate() {
                *f += params.drift_amplitude * (w * k as f64).sin();
            }
        }
        DriftModel::None => {}
    }

    // Photobleaching scales everything the indicator emits: baseline, signal and drift.
    if config.photobleaching.enabled && params.bleaching_amplitude > 0.0 {
        // remaining = exp(-t / tau), stepped by one multiplication per frame and recomputed
        // exactly every 256 frames so rounding cannot accumulate.
        let per_frame = 1.0 / (fs * params.bleaching_tau_s);
        let step = (-per_frame).exp();
        let mut remaining = 1.0;
        for (k, f) in trace.iter_mut().enumerate() {
            if k % 256 == 0 {
                remaining = (-(k as f64) * per_frame).exp();
            }
            *f *= 1.0 - params.bleaching_amplitude * (1.0 - remaining);
            remaining *= step;
        }
    }

    if config.noise.shot_noise {
        let mut rng = rng_for(config.seed, cell, Purpose::ShotNoise);
        let g = config.noise.photons_per_unit;
        for f in trace.iter_mut() {
            let lambda = f.max(0.0) * g;
            *f = poisson::sample(&mut rng, lambda) / g;
        }
    }

    if params.noise_std > 0.0 {
        let mut rng = rng_for(config.seed, cell, Purpose::Noise);
        for f in trace.iter_mut() {
            let z: f64 = StandardNormal.sample(&mut rng);
            *f += params.noise_std * z;
        }
    }
}
