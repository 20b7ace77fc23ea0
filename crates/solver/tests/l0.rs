//! Exact L0 solver against brute force on tiny traces, plus degenerate inputs, limits and timing.
//!
//! Brute force: every changepoint set S, each segment's level in closed form. For the positive
//! variant, the constrained optimum for a set S with some jumps forced to zero is the unconstrained
//! fit of the smaller set of its strictly positive jumps (convexity), so the exact minimum is the
//! minimum over all S whose unconstrained fit has no negative jump.

use calab_solver::l0::{gamma_from_tau, lambda_for_rate, solve_l0, solve_l0_rows, L0Solution};
use calab_solver::SolverError;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// (1/2 residual sum of squares, calcium) for segments starting at `starts` (first is 0).
fn fit_segments(y: &[f64], gamma: f64, starts: &[usize]) -> (f64, Vec<f64>) {
    let mut c = vec![0.0; y.len()];
    let mut rss = 0.0;
    for (i, &a) in starts.iter().enumerate() {
        let b = starts.get(i + 1).copied().unwrap_or(y.len());
        let (mut syg, mut sgg, mut p) = (0.0, 0.0, 1.0);
        for &v in &y[a..b] {
            syg += v * p;
            sgg += p * p;
            p *= gamma;
        }
        let m = syg / sgg;
        let mut level = m;
        for t in a..b {
            c[t] = level;
            rss += (y[t] - level).powi(2);
            level *= gamma;
        }
    }
    (0.5 * rss, c)
}

fn brute_force(y: &[f64], gamma: f64, lambda: f64, positive: bool) -> f64 {
    let n = y.len();
    let mut best = f64::INFINITY;
    for mask in 0u32..(1 << (n - 1)) {
        let mut starts = vec![0usize];
        starts.extend((1..n).filter(|t| mask & (1 << (t - 1)) != 0));
        let (fit, c) = fit_segments(y, gamma, &starts);
        if positive && starts[1..].iter().any(|&t| c[t] - gamma * c[t - 1] < 0.0) {
            continue;
        }
        best = best.min(fit + lambda * (starts.len() - 1) as f64);
    }
    best
}

/// The reported cost is the objective of the reported calcium, and spikes are consistent with it.
fn check_consistent(y: &[f64], gamma: f64, lambda: f64, positive: bool, sol: &L0Solution) {
    let fit: f64 = y
        .iter()
        .zip(&sol.calcium)
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    let cost = 0.5 * fit + lambda * sol.spike_times.len() as f64;
    assert!((cost - sol.cost).abs() <= 1e-12 * cost.abs().max(1.0));
    for t in 1..y.len() {
        let z = sol.calcium[t] - gamma * sol.calcium[t - 1];
        if sol.spike_times.contains(&t) {
            assert_eq!(sol.spikes[t], z);
            if positive {
                assert!(z > 0.0);
            }
        } else {
            assert_eq!(sol.spikes[t], 0.0);
            assert!(
                z.abs() <= 1e-9 * (1.0 + sol.calcium[t - 1].abs()),
                "t={t} z={z}"
            );
        }
    }
}

fn random_trace(rng: &mut Pcg64, n: usize, gamma: f64) -> Vec<f64> {
    let mut c: f64 = rng.gen_range(-1.0..2.0);
    (0..n)
        .map(|_| {
            if rng.gen::<f64>() < 0.25 {
                c += rng.gen_range(0.0..3.0);
            }
            let v = c + rng.gen_range(-0.7..0.7);
            c *= gamma;
            v
        })
        .collect()
}

#[test]
fn matches_brute_force_on_tiny_traces() {
    let mut rng = Pcg64::seed_from_u64(7);
    let mut checked = 0;
    for trial in 0..400 {
        let n = rng.gen_range(1..=10);
        let gamma = rng.gen_range(0.3..0.99);
        let lambda = [0.0, 1e-3, 0.05, 0.3, 1.0, 5.0][trial % 6] * rng.gen_range(0.5..2.0);
        let y = random_trace(&mut rng, n, gamma);
        for positive in [false, true] {
            let sol = solve_l0(&y, gamma, lambda, positive).unwrap();
            let bf = brute_force(&y, gamma, lambda, positive);
            let tol = 1e-9 * bf.abs().max(1e-3);
            assert!(
                (sol.cost - bf).abs() <= tol,
                "trial {trial} positive={positive} n={n} gamma={gamma} lambda={lambda}: dp {} vs brute {bf}\ny={y:?}",
                sol.cost
            );
            check_consistent(&y, gamma, lambda, positive, &sol);
            checked += 1;
        }
    }
    assert_eq!(checked, 800);
}

#[test]
fn lambda_zero_and_huge() {
    let mut rng = Pcg64::seed_from_u64(3);
    let y = random_trace(&mut rng, 200, 0.9);
    let free = solve_l0(&y, 0.9, 0.0, false).unwrap();
    assert_eq!(free.calcium, y);
    assert_eq!(free.cost, 0.0);
    for positive in [false, true] {
        let sol = solve_l0(&y, 0.9, 1e12, positive).unwrap();
        assert!(sol.spike_times.is_empty());
        let (fit, c) = fit_segments(&y, 0.9, &[0]);
        assert!((sol.cost - fit).abs() <= 1e-9 * fit);
        for (a, b) in sol.calcium.iter().zip(&c) {
            assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()));
        }
    }
}

#[test]
fn degenerate_inputs() {
    for positive in [false, true] {
        assert!(matches!(
            solve_l0(&[], 0.9, 1.0, positive),
            Err(SolverError::TraceTooShort { len: 0, .. })
        ));
        let one = solve_l0(&[2.5], 0.9, 1.0, positive).unwrap();
        assert_eq!(one.calcium, vec![2.5]);
        assert_eq!(one.cost, 0.0);
        let flat = solve_l0(&[0.0; 50], 0.9, 1.0, positive).unwrap();
        assert!(flat.spike_times.is_empty() && flat.cost == 0.0);
        let constant = solve_l0(&[3.0; 50], 0.95, 100.0, positive).unwrap();
        assert!(constant.cost.is_finite() && constant.spike_times.is_empty());
        assert!(matches!(
            solve_l0(&[1.0, f64::NAN, 2.0], 0.9, 1.0, positive),
            Err(SolverError::NonFiniteInput { first_index: 1, .. })
        ));
        for g in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
            let e = solve_l0(&[1.0, 2.0], g, 1.0, positive).unwrap_err();
            assert_eq!(e.code(), "INVALID_PARAMETER");
            assert!(e.to_string().contains("gamma"));
        }
        for l in [-1.0, f64::INFINITY, f64::NAN] {
            let e = solve_l0(&[1.0, 2.0], 0.9, l, positive).unwrap_err();
            assert!(e.to_string().contains("lambda"));
        }
    }
    assert!(gamma_from_tau(0.0, 30.0).is_err());
    assert!(gamma_from_tau(0.5, -1.0).is_err());
    assert!(gamma_from_tau(1e-9, 30.0).is_err()); // gamma underflows to 0
    let g = gamma_from_tau(0.5, 30.0).unwrap();
    assert!((g - (-1.0f64 / 15.0).exp()).abs() < 1e-15);
}

#[test]
fn long_silent_segment_stays_finite() {
    // A single spike then a very long decay: exercises the DECAY_FLOOR path.
    let mut y = vec![0.0; 20_000];
    y[10] = 5.0;
    for positive in [false, true] {
        let sol = solve_l0(&y, 0.9, 1.0, positive).unwrap();
        assert!(sol.cost.is_finite() && sol.calcium.iter().all(|c| c.is_finite()));
        assert!(sol.spike_times.contains(&10));
        // No worse than one spike at 10 (and, unconstrained, than dropping back to 0 at 11).
        let (fit, _) = fit_segments(&y, 0.9, &[0, 10]);
        let bound = if positive { fit + 1.0 } else { 2.0 };
        assert!(sol.cost <= bound + 1e-9);
    }
}

#[test]
fn rows_and_determinism() {
    let mut rng = Pcg64::seed_from_u64(11);
    let data: Vec<f64> = (0..4)
        .flat_map(|_| random_trace(&mut rng, 300, 0.9))
        .collect();
    let rows = solve_l0_rows(&data, 300, 0.9, 0.5, true).unwrap();
    for (i, r) in rows.into_iter().enumerate() {
        let single = solve_l0(&data[i * 300..(i + 1) * 300], 0.9, 0.5, true).unwrap();
        assert_eq!(r.unwrap(), single);
    }
    assert!(solve_l0_rows(&data, 7, 0.9, 0.5, true).is_err());
    assert!(solve_l0_rows(&data, 300, 1.0, 0.5, true).is_err());
}

#[test]
fn rate_bisection_hits_target() {
    let mut rng = Pcg64::seed_from_u64(5);
    let y = random_trace(&mut rng, 3000, 0.95);
    for positive in [false, true] {
        let fit = lambda_for_rate(&y, 0.95, 30.0, 2.0, positive).unwrap();
        assert!(fit.iterations <= calab_solver::l0::RATE_MAX_ITERS);
        let sol = solve_l0(&y, 0.95, fit.lambda, positive).unwrap();
        assert_eq!(sol.spike_times.len(), fit.num_spikes);
        assert!((fit.rate_hz - 2.0).abs() < 0.2, "rate {}", fit.rate_hz);
    }
    assert!(lambda_for_rate(&y, 0.95, 30.0, 31.0, true).is_err());
    assert!(lambda_for_rate(&y, 0.95, 0.0, 1.0, true).is_err());
}

/// Prints (never asserts) run time against T to show how the cost grows, on sparse traces
/// (about 1 spike per 100 frames, noise 0.3 of a unit spike). Run with `--ignored --nocapture`.
#[test]
#[ignore]
fn timing_growth() {
    let mut rng = Pcg64::seed_from_u64(1);
    let gamma = 0.97;
    for n in [10_000usize, 30_000, 100_000, 300_000] {
        let mut c = 0.0;
        let y: Vec<f64> = (0..n)
            .map(|_| {
                c *= gamma;
                if rng.gen::<f64>() < 0.01 {
                    c += 1.0;
                }
                c + 0.3 * (rng.gen::<f64>() - 0.5) * 12f64.sqrt()
            })
            .collect();
        for positive in [false, true] {
            let t0 = std::time::Instant::now();
            let sol = solve_l0(&y, gamma, 0.5, positive).unwrap();
            eprintln!(
                "l0 timing T={n} positive={positive}: {:.1} ms, {} spikes",
                t0.elapsed().as_secs_f64() * 1e3,
                sol.spike_times.len()
            );
        }
    }
}
