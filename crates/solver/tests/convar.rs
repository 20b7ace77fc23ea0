//! Convar against a dense reference QP solver, KKT conditions, chunked vs whole, the lambda
//! search on simulated population data, and the speed-ups' effect on the optimum, for both the
//! direct (banded) solve and FISTA.
//!
//! The dense reference builds `H = A'A + lambda Z` and `b = A'y~` explicitly and solves
//! `min r'Hr - 2b'r, r_t >= 0 (t >= 1)` by projected coordinate descent followed by an
//! active-set polish (a Cholesky solve on the free set, then a sign check of the KKT
//! conditions), a different algorithm from both O(T) methods under test.

// Dense reference code indexes matrices by (t, s) on purpose: it mirrors the paper's notation.
#![allow(clippy::needless_range_loop)]

use calab_solver::convar::{
    convar_gradient, convar_objective, convar_run, convar_run_rows, convar_solve,
    convar_solve_chunked, convar_solve_from, convar_solve_rows, lambda_search, ChunkConfig,
    ConvarConfig, ConvarInit, ConvarMethod, ConvarRun, LambdaSearchConfig, SearchMethod,
};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64;

fn dense_problem(y: &[f64], g: f64, lam: f64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let n = y.len();
    let mut a = vec![vec![0.0; n]; n];
    for t in 0..n {
        for s in 0..=t {
            a[t][s] = g.powi((t - s) as i32);
        }
    }
    for s in 0..n {
        let m: f64 = (0..n).map(|t| a[t][s]).sum::<f64>() / n as f64;
        for row in a.iter_mut() {
            row[s] -= m;
        }
    }
    let my = y.iter().sum::<f64>() / n as f64;
    let yt: Vec<f64> = y.iter().map(|v| v - my).collect();
    let mut h = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..n {
            h[i][j] = (0..n).map(|t| a[t][i] * a[t][j]).sum();
        }
    }
    // Z: path Laplacian on nodes 1..n-1.
    for t in 2..n {
        h[t][t] += lam;
        h[t - 1][t - 1] += lam;
        h[t][t - 1] -= lam;
        h[t - 1][t] -= lam;
    }
    let b: Vec<f64> = (0..n)
        .map(|s| (0..n).map(|t| a[t][s] * yt[t]).sum())
        .collect();
    (h, b)
}

fn cholesky_solve(m: &[Vec<f64>], rhs: &[f64]) -> Vec<f64> {
    let n = rhs.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = m[i][i] - s;
                assert!(d > 0.0, "free-set Hessian not positive definite");
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (m[i][j] - s) / l[j][j];
            }
        }
    }
    let mut z = vec![0.0; n];
    for i in 0..n {
        z[i] = (rhs[i] - (0..i).map(|k| l[i][k] * z[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (z[i] - (i + 1..n).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    x
}

fn canonical(r: &mut [f64], g: f64) {
    let m = r[1..].iter().fold(f64::INFINITY, |a, &b| a.min(b));
    for v in r[1..].iter_mut() {
        *v -= m;
    }
    r[0] -= m / (1.0 - g);
}

/// Dense reference optimum (canonical: smallest rate zero), verified by KKT.
fn dense_reference(y: &[f64], g: f64, lam: f64) -> Vec<f64> {
    let n = y.len();
    let (h, b) = dense_problem(y, g, lam);
    let mut r = vec![0.0; n];
    for _ in 0..20_000 {
        for i in 0..n {
            let gi: f64 = (0..n).map(|j| h[i][j] * r[j]).sum::<f64>() - b[i];
            let mut v = r[i] - gi / h[i][i];
            if i >= 1 && v < 0.0 {
                v = 0.0;
            }
            r[i] = v;
        }
    }
    canonical(&mut r, g);
    // Active-set polish: guess the active set, solve exactly on the free set, check KKT, and
    // move violators between the sets until it holds.
    let scale = r.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    let mut active: Vec<bool> = (0..n).map(|i| i >= 1 && r[i] <= 1e-7 * scale).collect();
    for _round in 0..50 {
        let free: Vec<usize> = (0..n).filter(|&i| !active[i]).collect();
        let hf: Vec<Vec<f64>> = free
            .iter()
            .map(|&i| free.iter().map(|&j| h[i][j]).collect())
            .collect();
        let bf: Vec<f64> = free.iter().map(|&i| b[i]).collect();
        let xf = cholesky_solve(&hf, &bf);
        let mut x = vec![0.0; n];
        for (k, &i) in free.iter().enumerate() {
            x[i] = xf[k];
        }
        let grad: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| h[i][j] * x[j]).sum::<f64>() - b[i])
            .collect();
        let gs = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
        let mut changed = false;
        for i in 1..n {
            if active[i] && grad[i] < -1e-10 * gs {
                active[i] = false;
                changed = true;
            } else if !active[i] && x[i] < -1e-10 * scale {
                active[i] = true;
                changed = true;
            }
        }
        if !changed {
            canonical(&mut x, g);
            return x;
        }
    }
    panic!("active-set polish did not settle");
}

fn random_trace(rng: &mut Pcg64, n: usize, g: f64) -> Vec<f64> {
    let mut c = rng.gen_range(0.0..3.0);
    let mut rate: f64 = rng.gen_range(0.0..1.0);
    (0..n)
        .map(|_| {
            rate = (rate + rng.gen_range(-0.3..0.3)).max(0.0);
            c = g * c + rate;
            c + 10.0 + rng.gen_range(-0.8..0.8)
        })
        .collect()
}

/// Smooth population rate (bumps on a floor), its calcium, and a noisy trace.
fn population(seed: u64, n: usize, g: f64, noise: f64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = Pcg64::seed_from_u64(seed);
    let bumps: Vec<(f64, f64, f64)> = (0..(n / 60).max(2))
        .map(|_| {
            (
                rng.gen_range(0.0..n as f64),
                rng.gen_range(4.0..15.0),
                rng.gen_range(0.5..2.0),
            )
        })
        .collect();
    let rate: Vec<f64> = (0..n)
        .map(|t| {
            0.1 + bumps
                .iter()
                .map(|&(m, w, h)| h * (-0.5 * ((t as f64 - m) / w).powi(2)).exp())
                .sum::<f64>()
        })
        .collect();
    let normal = Normal::new(0.0, noise).unwrap();
    let mut c = 0.0;
    let y = rate
        .iter()
        .map(|&r| {
            c = g * c + r;
            c + 5.0 + normal.sample(&mut rng)
        })
        .collect();
    (rate, y)
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
}

fn corr(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    sab / (saa * sbb).sqrt()
}

/// FISTA to a tight tolerance.
fn tight(g: f64, lam: f64) -> ConvarConfig {
    let mut cfg = fista(g, lam);
    cfg.tol = 1e-10;
    cfg.max_iters = 200_000;
    cfg
}

fn fista(g: f64, lam: f64) -> ConvarConfig {
    let mut cfg = ConvarConfig::new(g, lam);
    cfg.method = ConvarMethod::Fista;
    cfg
}

/// The default (direct) solve and FISTA to a tight tolerance.
fn both(g: f64, lam: f64) -> [ConvarConfig; 2] {
    [ConvarConfig::new(g, lam), tight(g, lam)]
}

#[test]
fn matches_dense_reference() {
    let mut rng = Pcg64::seed_from_u64(7);
    let mut worst_rate = 0.0f64;
    let mut worst_obj = 0.0f64;
    for &(n, g, lam) in &[
        (12usize, 0.5, 0.0),
        (20, 0.8, 0.3),
        (30, 0.9, 2.0),
        (40, 0.95, 10.0),
        (25, 0.97, 0.05),
    ] {
        for _ in 0..3 {
            let y = random_trace(&mut rng, n, g);
            let reference = dense_reference(&y, g, lam);
            for cfg in both(g, lam) {
                let sol = convar_solve(&y, &cfg).unwrap();
                let m = cfg.method;
                assert!(sol.converged, "{m:?} n={n} g={g} lam={lam}");
                let f_ref = convar_objective(&y, &reference, g, lam).unwrap();
                // Relative to the objective at r = 0 (||y~||^2): f_ref itself can be ~0 (lambda = 0).
                let f_zero = convar_objective(&y, &vec![0.0; n], g, lam).unwrap();
                let gap = (sol.objective - f_ref) / f_zero;
                let dr = max_diff(&sol.rates, &reference) / max_abs(&reference).max(1e-12);
                worst_rate = worst_rate.max(dr);
                worst_obj = worst_obj.max(gap.abs());
                assert!(
                    gap.abs() <= 1e-9,
                    "{m:?} n={n} g={g} lam={lam}: objective gap {gap:e}"
                );
                assert!(
                    dr <= 1e-5,
                    "{m:?} n={n} g={g} lam={lam}: rates differ by {dr:e}"
                );
            }
        }
    }
    println!(
        "dense reference: worst relative rate gap {worst_rate:.2e}, objective gap {worst_obj:.2e}"
    );
}

#[test]
fn solution_satisfies_kkt() {
    let (g, lam) = (0.95, 3.0);
    let (_, y) = population(3, 600, g, 0.3);
    for cfg in both(g, lam) {
        let sol = convar_solve(&y, &cfg).unwrap();
        let grad = convar_gradient(&y, &sol.rates, g, lam).unwrap();
        let gs = max_abs(&grad).max(
            convar_gradient(&y, &vec![0.0; y.len()], g, lam)
                .map(|v| max_abs(&v))
                .unwrap(),
        );
        let rs = max_abs(&sol.rates);
        assert!(grad[0].abs() <= 1e-7 * gs, "free r_0: gradient {}", grad[0]);
        let mut n_active = 0;
        for t in 1..y.len() {
            assert!(sol.rates[t] >= 0.0);
            assert!(grad[t] >= -1e-7 * gs, "t={t}: gradient {} < 0", grad[t]);
            if sol.rates[t] > 1e-9 * rs {
                assert!(
                    grad[t].abs() <= 1e-7 * gs,
                    "t={t}: r={} grad={}",
                    sol.rates[t],
                    grad[t]
                );
            } else {
                n_active += 1;
            }
        }
        assert!(n_active >= 1, "canonical solution has a zero rate");
        // The reported objective and baseline belong to the reported rates.
        let f = convar_objective(&y, &sol.rates, g, lam).unwrap();
        assert!((f - sol.objective).abs() <= 1e-12 * f);
        let mean_y = y.iter().sum::<f64>() / y.len() as f64;
        let mean_c = sol.calcium.iter().sum::<f64>() / y.len() as f64;
        assert!((sol.baseline - (mean_y - mean_c)).abs() <= 1e-12 * mean_y.abs());
    }
}

#[test]
fn speedups_do_not_move_the_optimum() {
    // Same optimum (1e-4 of the largest rate at tol 1e-8) from zeros or first differences, with
    // or without early stopping, and warm-started from another lambda's solution; the objective
    // to 1e-9.
    let (g, lam) = (0.95, 1.0);
    let (_, y) = population(11, 800, g, 0.4);
    let mut base = tight(g, lam);
    base.early_stop = false;
    base.max_iters = 20_000;
    base.init = ConvarInit::Zeros;
    let reference = convar_solve(&y, &base).unwrap();
    let scale = max_abs(&reference.rates);
    let mut cfgs = Vec::new();
    // The direct solve is the same optimum.
    let direct = convar_solve(&y, &ConvarConfig::new(g, lam)).unwrap();
    let d = max_diff(&direct.rates, &reference.rates) / scale;
    assert!(d <= 1e-4, "direct: rates differ by {d:e}");
    let gap = (reference.objective - direct.objective) / direct.objective;
    assert!((0.0..=1e-9).contains(&gap), "direct: objective gap {gap:e}");
    for init in [ConvarInit::Zeros, ConvarInit::FirstDifferences] {
        let mut c = fista(g, lam);
        c.init = init;
        c.tol = 1e-8;
        cfgs.push(c);
    }
    let mut iters = Vec::new();
    for c in &cfgs {
        let s = convar_solve(&y, c).unwrap();
        assert!(s.converged);
        iters.push(s.iterations);
        let d = max_diff(&s.rates, &reference.rates) / scale;
        assert!(d <= 1e-4, "{:?}: rates differ by {d:e}", c.init);
        let gap = (s.objective - reference.objective) / reference.objective;
        assert!(gap.abs() <= 1e-9, "{:?}: objective gap {gap:e}", c.init);
    }
    let warm_from = convar_solve(&y, &fista(g, 30.0)).unwrap();
    let warm = convar_solve_from(&y, &cfgs[1], &warm_from.rates).unwrap();
    let d = max_diff(&warm.rates, &reference.rates) / scale;
    assert!(d <= 1e-4, "warm start: rates differ by {d:e}");
    // With the default tolerance the rates are still close.
    let dflt = convar_solve(&y, &fista(g, lam)).unwrap();
    let d = max_diff(&dflt.rates, &reference.rates) / scale;
    assert!(d <= 5e-4, "default tol: rates differ by {d:e}");
    println!(
        "iterations (tol 1e-8): zeros {}, first differences {}, warm {}; default tol {} (rate diff {d:.1e})",
        iters[0], iters[1], warm.iterations, dflt.iterations
    );
}

#[test]
fn chunked_agrees_with_whole() {
    let g = 0.9;
    let lam = 2.0;
    let (_, y) = population(5, 4000, g, 0.3);
    for cfg in both(g, lam) {
        let whole = convar_solve(&y, &cfg).unwrap();
        let chunk = ChunkConfig::new(500, g);
        let chunked = convar_solve_chunked(&y, &cfg, &chunk).unwrap();
        assert!(chunked.converged);
        let scale = max_abs(&whole.rates[1..]);
        let d = max_diff(&chunked.rates[1..], &whole.rates[1..]) / scale;
        let mean_d = chunked.rates[1..]
            .iter()
            .zip(&whole.rates[1..])
            .map(|(a, b)| (a - b).abs())
            .sum::<f64>()
            / (y.len() - 1) as f64
            / scale;
        let fit_d = chunked
            .calcium
            .iter()
            .zip(&whole.calcium)
            .map(|(a, b)| (a - b + chunked.baseline - whole.baseline).abs())
            .fold(0.0f64, f64::max);
        let rel_obj = (chunked.objective - whole.objective) / whole.objective;
        println!(
        "chunked (500 + {} overlap, blend {}) vs whole: max rate diff {d:.2e}, mean {mean_d:.2e} of max rate; \
         max fit diff {fit_d:.2e}; objective +{rel_obj:.2e}",
        chunk.overlap, chunk.blend
    );
        assert!(
            d <= 0.02,
            "chunked rates differ by {d:e} of the largest rate"
        );
        assert!((-1e-9..=1e-3).contains(&rel_obj), "objective {rel_obj:e}");
        // No blending and no overlap is visibly worse: the test can fail.
        let hard = ChunkConfig {
            chunk_size: 500,
            overlap: 0,
            blend: 0,
        };
        let cut = convar_solve_chunked(&y, &cfg, &hard).unwrap();
        let d_cut = max_diff(&cut.rates[1..], &whole.rates[1..]) / scale;
        assert!(
            d_cut > d,
            "plain cuts ({d_cut:e}) should be worse than overlap+blend ({d:e})"
        );
    }
}

#[test]
fn lambda_search_picks_a_sensible_lambda() {
    let g = 0.95;
    let mut chosen = Vec::new();
    for seed in 0..3 {
        let (rate, y) = population(100 + seed, 2000, g, 0.5);
        let cfg = ConvarConfig::new(g, 0.0);
        let grid = lambda_search(&y, &cfg, &LambdaSearchConfig::default()).unwrap();
        let lam = grid.lambda;
        chosen.push(lam);
        let lo = grid
            .evaluated
            .iter()
            .map(|e| e.0)
            .fold(f64::INFINITY, f64::min);
        let hi = grid.evaluated.iter().map(|e| e.0).fold(0.0, f64::max);
        assert!(
            lam > lo && lam < hi,
            "seed {seed}: lambda {lam} at the grid edge"
        );
        // The chosen lambda recovers the rate better than the grid's extremes.
        let fit = |l: f64| {
            let s = convar_solve(&y, &ConvarConfig::new(g, l)).unwrap();
            corr(&s.rates[1..], &rate[1..])
        };
        let (c_best, c_lo, c_hi) = (fit(lam), fit(lo), fit(hi));
        assert!(c_best > 0.9, "seed {seed}: correlation {c_best}");
        assert!(
            c_best > c_lo && c_best > c_hi,
            "seed {seed}: {c_best} vs {c_lo}, {c_hi}"
        );
        // The fast search agrees with the grid (its score within 1% of the grid's best).
        let fast_cfg = LambdaSearchConfig {
            method: SearchMethod::Fast,
            ..LambdaSearchConfig::default()
        };
        let fast = lambda_search(&y, &cfg, &fast_cfg).unwrap();
        assert!(
            fast.score <= grid.score * 1.01,
            "seed {seed}: fast score {} vs grid {}",
            fast.score,
            grid.score
        );
        // FISTA with warm starts (along the grid, from the largest lambda) scores the same
        // lambdas the same, beyond its tolerance, and picks the same one.
        let warm = lambda_search(
            &y,
            &fista(g, 0.0),
            &LambdaSearchConfig {
                warm_start: true,
                ..LambdaSearchConfig::default()
            },
        )
        .unwrap();
        assert_eq!(warm.lambda, grid.lambda);
        for (a, b) in warm.evaluated.iter().zip(&grid.evaluated) {
            assert!((a.1 - b.1).abs() <= 1e-3 * b.1, "score {} vs {}", a.1, b.1);
        }
        println!(
            "seed {seed}: grid lambda {lam:.3} (score {:.4}, {} solves, {} iters, warm {} iters), \
             fast {:.3} (score {:.4}, {} solves, {} iters); corr {c_best:.3} vs edges {c_lo:.3}/{c_hi:.3}",
            grid.score,
            grid.evaluated.len(),
            grid.iterations,
            warm.iterations,
            fast.lambda,
            fast.score,
            fast.evaluated.len(),
            fast.iterations
        );
    }
}

#[test]
fn rows_are_independent_and_deterministic() {
    let g = 0.9;
    let n = 300;
    let mut data = Vec::new();
    for seed in 0..5 {
        data.extend(population(200 + seed, n, g, 0.3).1);
    }
    let mut run = ConvarRun::new(ConvarConfig::new(g, 0.0));
    run.search = Some(LambdaSearchConfig {
        method: SearchMethod::Fast,
        ..LambdaSearchConfig::default()
    });
    let all = convar_run_rows(&data, n, &run).unwrap();
    let again = convar_run_rows(&data, n, &run).unwrap();
    let part = convar_run_rows(&data[2 * n..4 * n], n, &run).unwrap();
    for i in 0..5 {
        let a = all[i].as_ref().unwrap();
        assert_eq!(a, again[i].as_ref().unwrap());
        assert_eq!(a, &convar_run(&data[i * n..(i + 1) * n], &run).unwrap());
    }
    assert_eq!(all[2].as_ref().unwrap(), part[0].as_ref().unwrap());
    assert_eq!(all[3].as_ref().unwrap(), part[1].as_ref().unwrap());
    // Per-row errors come back per row.
    let mut bad = data.clone();
    bad[n + 4] = f64::NAN;
    let res = convar_solve_rows(&bad, n, &ConvarConfig::new(g, 1.0)).unwrap();
    assert_eq!(res[1].as_ref().unwrap_err().code(), "NON_FINITE_INPUT");
    assert!(res[0].is_ok() && res[2].is_ok());
    assert_eq!(
        convar_solve_rows(&data[..7], 3, &ConvarConfig::new(g, 1.0))
            .unwrap_err()
            .code(),
        "SHAPE_MISMATCH"
    );
}

#[test]
fn typed_errors() {
    let y: Vec<f64> = (0..20).map(|i| (i as f64).sin()).collect();
    let cfg = ConvarConfig::new(0.9, 1.0);
    let code = |r: Result<_, calab_solver::SolverError>| {
        r.map(|_: calab_solver::convar::ConvarSolution| ())
            .unwrap_err()
            .code()
    };
    let mut c = cfg;
    c.tol = 0.0;
    assert_eq!(code(convar_solve(&y, &c)), "INVALID_PARAMETER");
    c = cfg;
    c.max_iters = 0;
    assert_eq!(code(convar_solve(&y, &c)), "INVALID_PARAMETER");
    let bad_chunk = ChunkConfig {
        chunk_size: 10,
        overlap: 2,
        blend: 4,
    };
    assert_eq!(
        code(convar_solve_chunked(&y, &cfg, &bad_chunk)),
        "INVALID_PARAMETER"
    );
    assert_eq!(
        code(convar_solve(&[1e200, 0.0, 1.0], &cfg)),
        "VALUE_OUT_OF_RANGE"
    );
    let e = lambda_search(&y[..5], &cfg, &LambdaSearchConfig::default()).unwrap_err();
    assert_eq!(e.code(), "TRACE_TOO_SHORT");
    let e = lambda_search(
        &y,
        &cfg,
        &LambdaSearchConfig {
            grid: vec![],
            ..LambdaSearchConfig::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "INVALID_STATE");
    let e = lambda_search(
        &y,
        &cfg,
        &LambdaSearchConfig {
            grid: vec![1.0, -2.0],
            ..LambdaSearchConfig::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "INVALID_PARAMETER");
}

#[test]
fn core_matches_golden_fixture() {
    use serde_json::Value;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/convar_golden.json"
    );
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let rtol = golden["tolerance"]["rtol"].as_f64().unwrap();
    let atol = golden["tolerance"]["atol"].as_f64().unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let lam = case["lam"].as_f64().unwrap();
        let mut cfg = ConvarConfig::new(case["gamma"].as_f64().unwrap(), lam.max(0.0));
        cfg.max_iters = case["max_iters"].as_u64().unwrap() as u32;
        let mut run = ConvarRun::new(cfg);
        if lam < 0.0 {
            run.search = Some(LambdaSearchConfig::default());
        }
        let sol = convar_run(&floats(&case["trace"]), &run).unwrap();
        let exp = &case["expected"];
        for (field, got) in [("rates", &sol.rates), ("calcium", &sol.calcium)] {
            let want = floats(&exp[field]);
            let bound = atol + rtol * max_abs(&want);
            let d = max_diff(got, &want);
            assert!(
                d <= bound,
                "{name} {field}: off by {d:e}, allowed {bound:e}"
            );
        }
        let want_lam = exp["lambda"].as_f64().unwrap();
        assert!(
            (sol.lambda - want_lam).abs() <= 1e-12 * want_lam,
            "{name}: lambda"
        );
        assert_eq!(sol.converged, exp["converged"].as_bool().unwrap());
    }
}
