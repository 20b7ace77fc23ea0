//! Simulator tests: determinism, statistics, ground-truth consistency, config JSON and the schema.

use serde_json::{json, Value};

use super::cell::{kernel_peak, render_calcium, rng_for, CellParams, Purpose, Saturation};
use super::presets::PRESET_LIST;
use super::spikes::SpikeTrain;
use super::*;
use crate::error::SolverError;

const SCHEMA: &str = include_str!("../../../../schemas/simulation-config.schema.json");

fn small(num_cells: usize, num_timepoints: usize) -> SimulationConfig {
    SimulationConfig {
        num_cells,
        num_timepoints,
        ..SimulationConfig::default()
    }
}

/// A config with no spikes, noise, drift, bleaching or saturation: the trace is the baseline.
fn quiet(num_cells: usize, num_timepoints: usize) -> SimulationConfig {
    let mut c = small(num_cells, num_timepoints);
    c.spike_model = SpikeModel::Poisson(PoissonConfig {
        rate_hz: 0.0,
        rate_cv: 0.0,
    });
    c.noise.gaussian_std = 0.0;
    c.drift = DriftModel::None;
    c
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, var.sqrt())
}

fn param_name(err: SolverError) -> &'static str {
    match err {
        SolverError::InvalidParameter { name, .. } => name,
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Determinism and independence

#[test]
fn simulate_same_seed_is_bit_identical() {
    let mut c = small(4, 600);
    c.noise.shot_noise = true;
    c.spike_model = SpikeModel::Markov(MarkovConfig::default());
    let a = simulate(&c).unwrap();
    let b = simulate(&c).unwrap();
    assert_eq!(bits(&a.traces), bits(&b.traces));
    for (x, y) in a.ground_truth.iter().zip(&b.ground_truth) {
        assert_eq!(bits(&x.spikes), bits(&y.spikes));
        assert_eq!(bits(&x.clean_calcium), bits(&y.clean_calcium));
        assert_eq!(x.alpha.to_bits(), y.alpha.to_bits());
    }
}

#[test]
fn simulate_different_seeds_differ() {
    let c = small(2, 600);
    let a = simulate(&c).unwrap();
    let b = simulate(&SimulationConfig { seed: 43, ..c }).unwrap();
    assert_ne!(a.traces, b.traces);
    assert_ne!(a.ground_truth[0].spikes, b.ground_truth[0].spikes);
    assert_ne!(a.ground_truth[0].alpha, b.ground_truth[0].alpha);
}

#[test]
fn simulate_cell_does_not_depend_on_num_cells() {
    let few = simulate(&small(2, 500)).unwrap();
    let many = simulate(&small(7, 500)).unwrap();
    assert_eq!(few.traces[..], many.traces[..2 * 500]);
    assert_eq!(few.ground_truth[..], many.ground_truth[..2]);
}

#[test]
fn simulate_cells_differ_from_each_other() {
    let r = simulate(&small(3, 900)).unwrap();
    assert_ne!(r.ground_truth[0].spikes, r.ground_truth[1].spikes);
    assert_ne!(r.trace(1), r.trace(2));
}

#[test]
fn simulate_noise_settings_leave_spikes_and_calcium_unchanged() {
    let a = simulate(&small(3, 800)).unwrap();
    let mut c = small(3, 800);
    c.noise.gaussian_std = 0.5;
    c.noise.shot_noise = true;
    c.drift = DriftModel::Sinusoidal(SinusoidalDrift::default());
    let b = simulate(&c).unwrap();
    for (x, y) in a.ground_truth.iter().zip(&b.ground_truth) {
        assert_eq!(x.spikes, y.spikes);
        assert_eq!(x.clean_calcium, y.clean_calcium);
        assert_eq!(x.alpha, y.alpha);
    }
    assert_ne!(a.traces, b.traces);
}

#[test]
fn simulate_result_shape_and_finite_for_every_preset() {
    for name in PRESET_NAMES {
        let mut c = preset(name).unwrap();
        c.num_cells = 3;
        c.num_timepoints = 700;
        let r = simulate(&c).unwrap();
        assert_eq!(r.traces.len(), 3 * 700);
        assert_eq!(r.ground_truth.len(), 3);
        assert!(r.traces.iter().all(|v| v.is_finite()), "{name}");
        for gt in &r.ground_truth {
            assert_eq!(gt.spikes.len(), 700);
            assert_eq!(gt.clean_calcium.len(), 700);
            assert!(gt.tau_rise < gt.tau_decay);
        }
        assert_eq!(r.trace(3), None);
    }
}

// ---------------------------------------------------------------------------------------------
// Spike statistics

#[test]
fn simulate_poisson_counts_match_rate() {
    let mut c = quiet(20, 3000); // 100 s per cell
    c.spike_model = SpikeModel::Poisson(PoissonConfig {
        rate_hz: 5.0,
        rate_cv: 0.0,
    });
    let r = simulate(&c).unwrap();
    let total: f64 = r
        .ground_truth
        .iter()
        .map(|g| g.spikes.iter().sum::<f64>())
        .sum();
    let expected = 5.0 * 100.0 * 20.0;
    assert!(
        (total - expected).abs() < 5.0 * expected.sqrt(),
        "total {total} vs {expected}"
    );
    assert!(r.ground_truth.iter().all(|g| g.rate_hz == 5.0));
    assert!(r
        .ground_truth
        .iter()
        .all(|g| g.spikes.iter().all(|&s| s >= 0.0 && s.fract() == 0.0)));
}

#[test]
fn simulate_poisson_rate_cv_spreads_rates() {
    let mut c = quiet(2000, 1);
    c.spike_model = SpikeModel::Poisson(PoissonConfig {
        rate_hz: 2.0,
        rate_cv: 0.5,
    });
    let r = simulate(&c).unwrap();
    let rates: Vec<f64> = r.ground_truth.iter().map(|g| g.rate_hz).collect();
    let (m, _) = mean_std(&rates);
    assert!((m - 2.0).abs() < 0.1, "mean {m}");
    // Log-normal: ln(rate) has std sqrt(ln(1 + cv^2)).
    let logs: Vec<f64> = rates.iter().map(|x| x.ln()).collect();
    let (_, s) = mean_std(&logs);
    let want = (1.0f64 + 0.25).ln().sqrt();
    assert!((s / want - 1.0).abs() < 0.08, "log std {s} vs {want}");
}

#[test]
fn simulate_markov_matches_stationary_rate_and_is_bursty() {
    let mut c = quiet(40, 54_000); // 1800 s per cell
    let m = MarkovConfig {
        rate_cv: 0.0,
        ..MarkovConfig::default()
    };
    c.spike_model = SpikeModel::Markov(m.clone());
    let r = simulate(&c).unwrap();
    let h_on = -(1.0f64 - m.p_silent_to_active).ln();
    let h_off = -(1.0f64 - m.p_active_to_silent).ln();
    let p_active = h_on / (h_on + h_off);
    let rate = p_active * m.active_rate_hz + (1.0 - p_active) * m.silent_rate_hz;
    assert!((r.ground_truth[0].rate_hz - rate).abs() < 1e-12);
    let total: f64 = r
        .ground_truth
        .iter()
        .map(|g| g.spikes.iter().sum::<f64>())
        .sum();
    let expected = rate * 1800.0 * 40.0;
    assert!(
        (total / expected - 1.0).abs() < 0.05,
        "total {total} vs {expected}"
    );
    // Counts in 1 s windows are overdispersed (Fano factor well above Poisson's 1).
    let windows: Vec<f64> = r
        .ground_truth
        .iter()
        .flat_map(|g| g.spikes.chunks_exact(30).map(|w| w.iter().sum::<f64>()))
        .collect();
    let (wm, ws) = mean_std(&windows);
    assert!(ws * ws / wm > 3.0, "fano {}", ws * ws / wm);
}

#[test]
fn spike_train_times_are_sorted_and_in_range() {
    let params = CellParams::draw(
        &SimulationConfig {
            spike_model: SpikeModel::Markov(MarkovConfig::default()),
            ..SimulationConfig::default()
        },
        0,
    );
    let times: Vec<f64> =
        SpikeTrain::new(params.process, rng_for(1, 0, Purpose::Spikes), 5000.0).collect();
    assert!(!times.is_empty());
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert!(times.iter().all(|&t| (0.0..5000.0).contains(&t)));
}

// ---------------------------------------------------------------------------------------------
// Calcium ground truth

#[test]
fn render_calcium_on_grid_equals_discrete_convolution() {
    let (fs, tr, td, alpha) = (30.0, 0.05, 0.6, 0.7);
    let frames = 300;
    let times = [3.0, 3.0, 50.0, 51.0, 120.0, 299.0];
    let mut spikes = vec![0.0; frames];
    let mut calcium = vec![0.0; frames];
    render_calcium(
        times.iter().copied(),
        fs,
        tr,
        td,
        alpha,
        &mut spikes,
        &mut calcium,
    );
    let peak = kernel_peak(tr, td);
    let h: Vec<f64> = (0..frames)
        .map(|k| {
            let t = k as f64 / fs;
            ((-t / td).exp() - (-t / tr).exp()) / peak
        })
        .collect();
    for k in 0..frames {
        let expected: f64 = (0..=k).map(|j| alpha * spikes[j] * h[k - j]).sum();
        assert!((calcium[k] - expected).abs() < 1e-12, "frame {k}");
    }
    assert_eq!(spikes[3], 2.0);
    // Spikes on the half-frame boundary go to the later frame, the last half frame to the last.
    let mut edge = vec![0.0; 10];
    render_calcium(
        [2.5, 9.7].into_iter(),
        fs,
        tr,
        td,
        alpha,
        &mut edge,
        &mut [0.0; 10],
    );
    assert_eq!(edge[3], 1.0);
    assert_eq!(edge[9], 1.0);
    assert_eq!(spikes.iter().sum::<f64>(), times.len() as f64);
}

#[test]
fn render_calcium_single_spike_peaks_at_alpha() {
    // Sampled finely, one spike's transient peaks at alpha (the kernel is peak-normalised).
    let (fs, frames) = (2000.0, 4000);
    let mut spikes = vec![0.0; frames];
    let mut calcium = vec![0.0; frames];
    render_calcium(
        [100.0].into_iter(),
        fs,
        0.02,
        0.4,
        0.3,
        &mut spikes,
        &mut calcium,
    );
    let max = calcium.iter().cloned().fold(f64::MIN, f64::max);
    assert!((max - 0.3).abs() < 1e-5, "{max}");
}

#[test]
fn simulate_clean_calcium_is_alpha_times_kernel_at_spike_times() {
    let mut c = small(2, 400);
    c.spike_model = SpikeModel::Poisson(PoissonConfig {
        rate_hz: 4.0,
        rate_cv: 0.0,
    });
    let r = simulate(&c).unwrap();
    for (cell, gt) in r.ground_truth.iter().enumerate() {
        let params = CellParams::draw(&c, cell);
        let times: Vec<f64> = SpikeTrain::new(
            params.process,
            rng_for(c.seed, cell, Purpose::Spikes),
            400.0,
        )
        .collect();
        assert!(times.len() > 20);
        assert_eq!(gt.spikes.iter().sum::<f64>(), times.len() as f64);
        let peak = kernel_peak(gt.tau_rise, gt.tau_decay);
        for k in 0..400 {
            let t = k as f64 / c.fs;
            let expected: f64 = times
                .iter()
                .map(|&u| u / c.fs)
                .filter(|&ts| ts <= t)
                .map(|ts| {
                    gt.alpha * ((-(t - ts) / gt.tau_decay).exp() - (-(t - ts) / gt.tau_rise).exp())
                        / peak
                })
                .sum();
            assert!(
                (gt.clean_calcium[k] - expected).abs() < 1e-10,
                "cell {cell} frame {k}"
            );
        }
    }
}

#[test]
fn simulate_sub_frame_timing_changes_calcium() {
    // Same binned counts (the nearest frame, 5), different positions around its time stamp,
    // different calcium: a spike just before t_5 already shows at sample 5.
    let (mut s1, mut c1) = (vec![0.0; 20], vec![0.0; 20]);
    let (mut s2, mut c2) = (vec![0.0; 20], vec![0.0; 20]);
    render_calcium([4.6].into_iter(), 30.0, 0.02, 0.4, 1.0, &mut s1, &mut c1);
    render_calcium([5.4].into_iter(), 30.0, 0.02, 0.4, 1.0, &mut s2, &mut c2);
    assert_eq!(s1, s2);
    assert_eq!(s1[5], 1.0);
    assert!(c1[5] > 0.0 && c2[5] == 0.0);
    assert!(c1[6] > c2[6]);
}

#[test]
fn simulate_clean_preset_has_almost_no_noise() {
    let mut c = preset("clean").unwrap();
    c.num_cells = 3;
    c.num_timepoints = 2000;
    let r = simulate(&c).unwrap();
    for (cell, gt) in r.ground_truth.iter().enumerate() {
        assert_eq!(gt.alpha, 1.0);
        let trace = r.trace(cell).unwrap();
        let resid: Vec<f64> = trace
            .iter()
            .zip(&gt.clean_calcium)
            .map(|(y, c)| y - gt.baseline - c)
            .collect();
        let (m, s) = mean_std(&resid);
        assert!(m.abs() < 1e-3 && s < 2e-3, "mean {m} std {s}");
        assert!(gt.spikes.iter().sum::<f64>() > 0.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Drift, bleaching, saturation, noise

#[test]
fn simulate_random_walk_drift_has_stationary_std() {
    let mut c = quiet(20, 54_000);
    c.drift = DriftModel::RandomWalk(RandomWalkDrift {
        amplitude: 0.1,
        tau_s: 10.0,
        amplitude_cv: 0.0,
    });
    c.baseline_cv = 0.0;
    let r = simulate(&c).unwrap();
    let drift: Vec<f64> = r.traces.iter().map(|y| y - 1.0).collect();
    let (m, s) = mean_std(&drift);
    assert!(m.abs() < 0.02, "mean {m}");
    assert!((s / 0.1 - 1.0).abs() < 0.1, "std {s}");
    assert!(r.ground_truth.iter().all(|g| g.drift_amplitude == 0.1));
}

#[test]
fn simulate_sinusoidal_drift_is_exact() {
    let mut c = quiet(1, 900);
    c.baseline_cv = 0.0;
    c.drift = DriftModel::Sinusoidal(SinusoidalDrift {
        amplitude: 0.3,
        period_s: 5.0,
        amplitude_cv: 0.0,
    });
    let r = simulate(&c).unwrap();
    for (k, y) in r.traces.iter().enumerate() {
        let t = k as f64 / 30.0;
        let want = 1.0 + 0.3 * (std::f64::consts::TAU * t / 5.0).sin();
        assert!((y - want).abs() < 1e-12);
    }
}

#[test]
fn simulate_photobleaching_follows_formula() {
    let mut c = quiet(2, 900);
    c.photobleaching = PhotobleachingConfig {
        enabled: true,
        amplitude: 0.3,
        tau_s: 10.0,
        amplitude_cv: 0.0,
        tau_s_cv: 0.0,
    };
    let r = simulate(&c).unwrap();
    for (cell, gt) in r.ground_truth.iter().enumerate() {
        assert_eq!(gt.bleaching_amplitude, 0.3);
        for (k, y) in r.trace(cell).unwrap().iter().enumerate() {
            let t = k as f64 / 30.0;
            let want = gt.baseline * (1.0 - 0.3 * (1.0 - (-t / 10.0).exp()));
            assert!((y - want).abs() < 1e-12);
        }
    }
    // Disabled bleaching reports amplitude 0.
    let off = simulate(&quiet(1, 10)).unwrap();
    assert_eq!(off.ground_truth[0].bleaching_amplitude, 0.0);
}

#[test]
fn saturation_keeps_single_spike_and_bounds_large_signals() {
    for &(kd, n) in &[(10.0, 1.0), (3.0, 2.5), (0.5, 1.0)] {
        let s = Saturation::new(0.2, kd, n);
        assert!((s.apply(0.2) - 0.2).abs() < 1e-12);
        assert_eq!(s.apply(0.0), 0.0);
        let limit = 0.2 * (1.0 + f64::powf(kd, n));
        let mut prev = 0.0;
        for i in 1..200 {
            let v = s.apply(i as f64 * 0.1);
            assert!(v > prev && v < limit);
            prev = v;
        }
    }
}

#[test]
fn simulate_saturation_compresses_large_transients() {
    let mut c = small(2, 3000);
    c.noise.gaussian_std = 0.0;
    c.drift = DriftModel::None;
    c.spike_model = SpikeModel::Poisson(PoissonConfig {
        rate_hz: 20.0,
        rate_cv: 0.0,
    });
    c.saturation = SaturationConfig {
        enabled: true,
        kd: 2.0,
        n: 1.0,
        kd_cv: 0.0,
    };
    let r = simulate(&c).unwrap();
    for (cell, gt) in r.ground_truth.iter().enumerate() {
        let trace = r.trace(cell).unwrap();
        let max_linear = gt.clean_calcium.iter().cloned().fold(0.0, f64::max);
        let max_sat = trace.iter().map(|y| y - gt.baseline).fold(0.0, f64::max);
        assert!(max_linear > 3.0 * gt.alpha);
        assert!(max_sat < max_linear && max_sat < gt.alpha * 3.0 + 1e-12);
    }
}

#[test]
fn simulate_shot_noise_has_poisson_variance() {
    let mut c = quiet(4, 20_000);
    c.baseline_cv = 0.0;
    c.noise.shot_noise = true;
    c.noise.photons_per_unit = 100.0;
    let r = simulate(&c).unwrap();
    let (m, s) = mean_std(&r.traces);
    assert!((m - 1.0).abs() < 0.005, "mean {m}");
    assert!((s / 0.1 - 1.0).abs() < 0.05, "std {s}");
    assert!(r
        .traces
        .iter()
        .all(|y| (y * 100.0 - (y * 100.0).round()).abs() < 1e-9));
}

#[test]
fn simulate_gaussian_noise_std_matches_ground_truth() {
    let mut c = quiet(3, 20_000);
    c.noise.gaussian_std = 0.05;
    let r = simulate(&c).unwrap();
    for (cell, gt) in r.ground_truth.iter().enumerate() {
        let resid: Vec<f64> = r
            .trace(cell)
            .unwrap()
            .iter()
            .map(|y| y - gt.baseline)
            .collect();
        let (_, s) = mean_std(&resid);
        assert!((s / gt.noise_std - 1.0).abs() < 0.05);
    }
}

#[test]
fn simulate_crossed_time_constants_are_sorted() {
    let mut c = small(50, 20);
    c.kernel = KernelConfig {
        tau_rise: 0.3,
        tau_decay: 0.4,
        tau_rise_cv: 1.0,
        tau_decay_cv: 1.0,
    };
    let r = simulate(&c).unwrap();
    assert!(r.ground_truth.iter().all(|g| g.tau_rise < g.tau_decay));
    assert!(r.traces.iter().all(|v| v.is_finite()));
}

// ---------------------------------------------------------------------------------------------
// Validation

#[test]
fn validate_names_the_field() {
    let bad = |f: &dyn Fn(&mut SimulationConfig)| {
        let mut c = SimulationConfig::default();
        f(&mut c);
        param_name(c.validate().unwrap_err())
    };
    assert_eq!(bad(&|c| c.fs = f64::NAN), "fs");
    assert_eq!(bad(&|c| c.fs = 0.0), "fs");
    assert_eq!(bad(&|c| c.num_cells = 0), "num_cells");
    assert_eq!(bad(&|c| c.num_timepoints = 0), "num_timepoints");
    assert_eq!(bad(&|c| c.alpha = f64::INFINITY), "alpha");
    assert_eq!(bad(&|c| c.kernel.tau_rise = 0.5), "kernel.tau_rise");
    assert_eq!(
        bad(&|c| c.kernel.tau_decay_cv = -0.1),
        "kernel.tau_decay_cv"
    );
    assert_eq!(bad(&|c| c.noise.gaussian_std = -1.0), "noise.gaussian_std");
    assert_eq!(
        bad(&|c| c.photobleaching.amplitude = 1.5),
        "photobleaching.amplitude"
    );
    assert_eq!(bad(&|c| c.saturation.n = 0.0), "saturation.n");
    assert_eq!(bad(&|c| c.seed = MAX_SEED + 1), "seed");
    assert_eq!(
        bad(&|c| {
            c.num_cells = 100_000;
            c.num_timepoints = 100_000;
        }),
        "num_cells * num_timepoints"
    );
    assert_eq!(
        bad(&|c| {
            c.spike_model = SpikeModel::Markov(MarkovConfig {
                p_active_to_silent: 1.0,
                ..MarkovConfig::default()
            })
        }),
        "spike_model.p_active_to_silent"
    );
    let err = simulate(&SimulationConfig {
        fs: -1.0,
        ..SimulationConfig::default()
    })
    .unwrap_err();
    assert_eq!(err.code(), "INVALID_PARAMETER");
    assert!(err.to_string().contains("`fs`"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// JSON

fn variant_configs() -> Vec<SimulationConfig> {
    let mut out: Vec<SimulationConfig> = PRESET_NAMES.iter().map(|n| preset(n).unwrap()).collect();
    let d = SimulationConfig::default();
    out.push(SimulationConfig {
        spike_model: SpikeModel::Markov(MarkovConfig::default()),
        drift: DriftModel::Sinusoidal(SinusoidalDrift::default()),
        photobleaching: PhotobleachingConfig {
            enabled: true,
            ..d.photobleaching.clone()
        },
        saturation: SaturationConfig {
            enabled: true,
            ..d.saturation.clone()
        },
        noise: NoiseConfig {
            shot_noise: true,
            ..d.noise.clone()
        },
        ..d
    });
    out
}

#[test]
fn json_round_trip() {
    for c in variant_configs() {
        let text = c.to_json().unwrap();
        assert_eq!(SimulationConfig::from_json(&text).unwrap(), c, "{text}");
    }
}

#[test]
fn json_partial_fills_defaults() {
    let c = SimulationConfig::from_json(
        r#"{"num_cells": 3, "kernel": {"tau_decay": 1.0}, "drift": {"tau_s": 5.0},
            "spike_model": {"model_type": "markov", "active_rate_hz": 30}}"#,
    )
    .unwrap();
    let d = SimulationConfig::default();
    assert_eq!(c.num_cells, 3);
    assert_eq!(c.fs, d.fs);
    assert_eq!(c.kernel.tau_decay, 1.0);
    assert_eq!(c.kernel.tau_rise, d.kernel.tau_rise);
    assert_eq!(
        c.drift,
        DriftModel::RandomWalk(RandomWalkDrift {
            tau_s: 5.0,
            ..RandomWalkDrift::default()
        })
    );
    assert_eq!(
        c.spike_model,
        SpikeModel::Markov(MarkovConfig {
            active_rate_hz: 30.0,
            ..MarkovConfig::default()
        })
    );
    assert_eq!(SimulationConfig::from_json("{}").unwrap(), d);
    assert_eq!(
        SimulationConfig::from_json(r#"{"drift": {"model_type": "none"}}"#)
            .unwrap()
            .drift,
        DriftModel::None
    );
    // The nested defaults are the same as the top-level default's parts.
    assert_eq!(d.kernel, KernelConfig::default());
    assert_eq!(d.noise, NoiseConfig::default());
    assert_eq!(d.spike_model, SpikeModel::default());
    assert_eq!(d.drift, DriftModel::default());
}

#[test]
fn json_unknown_fields_and_bad_values_are_rejected() {
    let invalid_state = |text: &str, needle: &str| match SimulationConfig::from_json(text) {
        Err(SolverError::InvalidState(msg)) => assert!(msg.contains(needle), "{msg}"),
        other => panic!("{text}: expected InvalidState, got {other:?}"),
    };
    invalid_state(r#"{"fz": 30}"#, "fz");
    invalid_state(r#"{"kernel": {"tau_rse": 0.1}}"#, "tau_rse");
    invalid_state(
        r#"{"spike_model": {"model_type": "markov", "rate_hz": 1}}"#,
        "rate_hz",
    );
    invalid_state(r#"{"spike_model": {"model_type": "gamma"}}"#, "gamma");
    invalid_state(
        r#"{"drift": {"model_type": "none", "amplitude": 1}}"#,
        "amplitude",
    );
    invalid_state(r#"{"drift": {"model_type": 3}}"#, "model_type");
    // serde_json reports type errors by position, not by field name.
    invalid_state(r#"{"num_cells": -1}"#, "line 1 column");
    invalid_state(r#"{"fs": "fast"}"#, "invalid type");
    invalid_state("{not json", "simulation config");
    match simulate_json(r#"{"kernel": {"tau_rise": 2.0}}"#) {
        Err(SolverError::InvalidParameter { name, .. }) => assert_eq!(name, "kernel.tau_rise"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn simulate_json_matches_simulate() {
    let r = simulate_json(r#"{"num_cells": 2, "num_timepoints": 300, "seed": 7}"#).unwrap();
    let c = SimulationConfig {
        num_cells: 2,
        num_timepoints: 300,
        seed: 7,
        ..SimulationConfig::default()
    };
    assert_eq!(r, simulate(&c).unwrap());
    let out = serde_json::to_value(&r).unwrap();
    for key in [
        "traces",
        "num_cells",
        "num_timepoints",
        "ground_truth",
        "config",
    ] {
        assert!(out.get(key).is_some(), "{key}");
    }
}

// ---------------------------------------------------------------------------------------------
// Presets

#[test]
fn presets_resolve_and_validate() {
    assert_eq!(PRESET_LIST, PRESET_NAMES.join(", "));
    for name in PRESET_NAMES {
        preset(name).unwrap().validate().unwrap();
    }
    assert_eq!(preset("gcamp6f").unwrap(), SimulationConfig::default());
    assert_eq!(preset(" GCaMP6s ").unwrap(), preset("gcamp6s").unwrap());
    let s = preset("gcamp6s").unwrap();
    let f = preset("jgcamp8f").unwrap();
    assert!(s.kernel.tau_decay > preset("gcamp6m").unwrap().kernel.tau_decay);
    assert!(f.kernel.tau_decay < preset("gcamp6f").unwrap().kernel.tau_decay);
    assert!(f.noise.gaussian_std / f.alpha > s.noise.gaussian_std / s.alpha);
    assert_eq!(preset("clean").unwrap().drift, DriftModel::None);
    match preset("gcamp7") {
        Err(SolverError::UnknownOption {
            value, expected, ..
        }) => {
            assert_eq!(value, "gcamp7");
            assert!(expected.contains("jgcamp8f"));
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Schema: the JSON Schema file is the cross-language source of truth for names, defaults and
// single-field bounds. A small validator covers the keywords the file uses.

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("schema file is valid JSON")
}

fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/").expect("local $defs reference");
            &root["$defs"][name]
        }
        None => s,
    }
}

/// The oneOf branch whose `model_type` const equals the value's (or the branch without a required
/// tag when the value has none).
fn branch<'a>(root: &'a Value, s: &'a Value, v: &Value) -> &'a Value {
    let tag = v.get("model_type");
    s["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| resolve(root, b))
        .find(|b| match tag {
            Some(t) => &b["properties"]["model_type"]["const"] == t,
            None => b.get("required").is_none(),
        })
        .unwrap_or_else(|| panic!("no oneOf branch for {v}"))
}

/// Minimal JSON Schema validation: $ref, oneOf, const, type, required, properties,
/// additionalProperties: false, minimum/maximum and their exclusive forms.
fn schema_errors(root: &Value, s: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    let s = resolve(root, s);
    if let Some(branches) = s.get("oneOf").and_then(Value::as_array) {
        let ok = branches
            .iter()
            .filter(|b| {
                let mut e = Vec::new();
                schema_errors(root, b, v, path, &mut e);
                e.is_empty()
            })
            .count();
        if ok != 1 {
            errs.push(format!("{path}: {ok} oneOf branches match"));
        }
        return;
    }
    if let Some(c) = s.get("const") {
        if c != v {
            errs.push(format!("{path}: {v} != const {c}"));
        }
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "number" => v.is_number(),
            "integer" => v.is_u64() || v.is_i64(),
            "boolean" => v.is_boolean(),
            "string" => v.is_string(),
            _ => panic!("type {t} not supported by the test validator"),
        };
        if !ok {
            errs.push(format!("{path}: {v} is not {t}"));
            return;
        }
    }
    if let Some(x) = v.as_f64() {
        let bound = |k: &str| s.get(k).and_then(Value::as_f64);
        let checks = [
            (bound("minimum"), x >= bound("minimum").unwrap_or(f64::MIN)),
            (bound("maximum"), x <= bound("maximum").unwrap_or(f64::MAX)),
            (
                bound("exclusiveMinimum"),
                x > bound("exclusiveMinimum").unwrap_or(f64::MIN),
            ),
            (
                bound("exclusiveMaximum"),
                x < bound("exclusiveMaximum").unwrap_or(f64::MAX),
            ),
        ];
        if checks.iter().any(|(b, ok)| b.is_some() && !ok) {
            errs.push(format!("{path}: {x} out of bounds"));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for req in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !obj.contains_key(req.as_str().unwrap()) {
                errs.push(format!("{path}: missing {req}"));
            }
        }
        for (k, child) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => schema_errors(root, ps, child, &format!("{path}.{k}"), errs),
                None => {
                    if s.get("additionalProperties") == Some(&Value::Bool(false)) {
                        errs.push(format!("{path}: unexpected property {k}"));
                    }
                }
            }
        }
    }
}

fn assert_schema_valid(v: &Value) {
    let root = schema();
    let mut errs = Vec::new();
    schema_errors(&root, &root, v, "$", &mut errs);
    assert!(errs.is_empty(), "{errs:?}\n{v}");
}

/// Keys of the serialized value equal the schema's property names, recursively.
fn assert_same_keys(root: &Value, s: &Value, v: &Value, path: &str) {
    let mut s = resolve(root, s);
    if s.get("oneOf").is_some() {
        s = branch(root, s, v);
    }
    let Some(props) = s.get("properties").and_then(Value::as_object) else {
        return;
    };
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{path} is not an object: {v}"));
    let mut want: Vec<&String> = props.keys().collect();
    let mut have: Vec<&String> = obj.keys().collect();
    want.sort();
    have.sort();
    assert_eq!(have, want, "property names at {path}");
    for (k, child) in obj {
        assert_same_keys(root, &props[k], child, &format!("{path}.{k}"));
    }
}

#[test]
fn schema_property_names_match_default_and_presets() {
    let root = schema();
    assert_eq!(
        root["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let default = serde_json::to_value(SimulationConfig::default()).unwrap();
    assert_same_keys(&root, &root, &default, "$");
    for c in variant_configs() {
        let v = serde_json::to_value(&c).unwrap();
        assert_same_keys(&root, &root, &v, "$");
        assert_schema_valid(&v);
    }
}

#[test]
fn schema_defaults_match_rust_defaults() {
    let root = schema();
    // One default value per schema object, including the variants that are not the default.
    let mut samples = vec![serde_json::to_value(SimulationConfig::default()).unwrap()];
    let mut alt = serde_json::to_value(SimulationConfig::default()).unwrap();
    alt["spike_model"] = serde_json::to_value(SpikeModel::Markov(MarkovConfig::default())).unwrap();
    alt["drift"] =
        serde_json::to_value(DriftModel::Sinusoidal(SinusoidalDrift::default())).unwrap();
    samples.push(alt);
    let mut checked = 0;
    fn walk(root: &Value, s: &Value, v: &Value, path: &str, checked: &mut usize) {
        let mut s = resolve(root, s);
        if s.get("oneOf").is_some() {
            s = branch(root, s, v);
        }
        if let Some(d) = s.get("default") {
            let same = match (d.as_f64(), v.as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => d == v,
            };
            assert!(same, "schema default of {path} is {d}, Rust default is {v}");
            *checked += 1;
        }
        if let (Some(props), Some(obj)) = (
            s.get("properties").and_then(Value::as_object),
            v.as_object(),
        ) {
            for (k, child) in obj {
                walk(root, &props[k], child, &format!("{path}.{k}"), checked);
            }
        }
    }
    for v in &samples {
        walk(&root, &root, v, "$", &mut checked);
    }
    assert!(checked > 40, "only {checked} defaults checked");
}

/// Every numeric leaf of `v` with its schema and its dotted path.
fn numeric_leaves(
    root: &Value,
    s: &Value,
    v: &Value,
    path: &[String],
    out: &mut Vec<(Vec<String>, Value)>,
) {
    let mut s = resolve(root, s);
    if s.get("oneOf").is_some() {
        s = branch(root, s, v);
    }
    if v.is_number() {
        out.push((path.to_vec(), s.clone()));
        return;
    }
    if let (Some(props), Some(obj)) = (
        s.get("properties").and_then(Value::as_object),
        v.as_object(),
    ) {
        for (k, child) in obj {
            let mut p = path.to_vec();
            p.push(k.clone());
            numeric_leaves(root, &props[k], child, &p, out);
        }
    }
}

fn set_path(v: &mut Value, path: &[String], x: Value) {
    let mut cur = v;
    for k in path {
        cur = &mut cur[k.as_str()];
    }
    *cur = x;
}

#[test]
fn schema_bounds_agree_with_validate() {
    let root = schema();
    let mut checked = 0;
    for base in [
        SimulationConfig::default(),
        variant_configs().pop().unwrap(),
    ] {
        let base = serde_json::to_value(&base).unwrap();
        let mut leaves = Vec::new();
        numeric_leaves(&root, &root, &base, &[], &mut leaves);
        for (path, leaf) in leaves {
            let name = path.join(".");
            let integer = leaf["type"] == "integer";
            let num = |x: f64| -> Value {
                if integer && x >= 0.0 {
                    json!(x as u64)
                } else if integer {
                    json!(x as i64)
                } else {
                    json!(x)
                }
            };
            let mut cases: Vec<(f64, bool)> = Vec::new();
            if let Some(m) = leaf["minimum"].as_f64() {
                cases.push((m, true));
                cases.push((m - 1.0, false));
            }
            if let Some(m) = leaf["maximum"].as_f64() {
                cases.push((m, true));
                cases.push((m + if integer { 1.0 } else { m.max(1.0) * 1e-3 }, false));
            }
            if let Some(m) = leaf["exclusiveMinimum"].as_f64() {
                cases.push((m, false));
            }
            if let Some(m) = leaf["exclusiveMaximum"].as_f64() {
                cases.push((m, false));
            }
            for (x, accept) in cases {
                let mut v = base.clone();
                set_path(&mut v, &path, num(x));
                let mut errs = Vec::new();
                schema_errors(&root, &root, &v, "$", &mut errs);
                assert_eq!(errs.is_empty(), accept, "schema on {name} = {x}: {errs:?}");
                let rust = SimulationConfig::from_json(&v.to_string());
                match (accept, rust) {
                    (true, Ok(_)) => {}
                    (false, Err(SolverError::InvalidParameter { name: n, .. })) => {
                        assert_eq!(n, name)
                    }
                    // Negative integers do not fit the unsigned Rust fields: a type error.
                    (false, Err(SolverError::InvalidState(msg))) if integer => {
                        assert!(msg.contains("invalid value"), "{msg}")
                    }
                    (_, other) => {
                        panic!("rust on {name} = {x}: expected accept={accept}, got {other:?}")
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 60, "only {checked} bound cases");
}

#[test]
fn schema_accepts_partial_configs_that_rust_accepts() {
    for text in [
        "{}",
        r#"{"spike_model": {"rate_hz": 3}}"#,
        r#"{"drift": {"tau_s": 3}}"#,
        r#"{"drift": {"model_type": "none"}, "spike_model": {"model_type": "markov"}}"#,
    ] {
        SimulationConfig::from_json(text).unwrap();
        assert_schema_valid(&serde_json::from_str(text).unwrap());
    }
    let root = schema();
    for text in [
        r#"{"fz": 1}"#,
        r#"{"drift": {"model_type": "none", "amplitude": 1}}"#,
    ] {
        assert!(SimulationConfig::from_json(text).is_err());
        let mut errs = Vec::new();
        schema_errors(
            &root,
            &root,
            &serde_json::from_str(text).unwrap(),
            "$",
            &mut errs,
        );
        assert!(!errs.is_empty(), "{text}");
    }
}
