//! The InDeCa outer loop (`indeca::run::IndecaRun`) end to end: kernel recovery on simulated
//! recordings, determinism (same seed, different thread counts), the convergence rule, input and
//! config errors with their codes, partial results, work spread over replicas, and the
//! config/results JSON schemas.
//!
//! Run with `cargo test --release -p calab-solver --test indeca_run` (add `--features parallel`
//! for the thread-count test).

use calab_solver::indeca::config::IndecaConfig;
use calab_solver::indeca::run::{
    biexp_curve, median, shape_change, ConvergenceTracker, IndecaRun, FINAL_WINDOW,
};
use calab_solver::indeca::work::{
    split_records, FinalCell, SegmentSolution, SegmentTask, UnitFailure,
};
use calab_solver::simulate::{preset, simulate, SimulationResult};
use calab_solver::SolverError;
use serde_json::{json, Value};

const CONFIG_SCHEMA: &str = include_str!("../../../schemas/cadecon-config.schema.json");
const RESULTS_SCHEMA: &str = include_str!("../../../schemas/cadecon-results.schema.json");

fn sim(name: &str, cells: usize, frames: usize, seed: u64) -> SimulationResult {
    let mut c = preset(name).unwrap();
    c.num_cells = cells;
    c.num_timepoints = frames;
    c.seed = seed;
    simulate(&c).unwrap()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn run_to_end(run: &mut IndecaRun) {
    while !run.is_done() {
        run.step().unwrap();
    }
    let n = run.num_cells();
    run.final_pass(0, n).unwrap();
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
    sab / (saa * sbb).sqrt().max(1e-300)
}

/// Correlation of inferred and true spikes in 1/`bin_hz` s bins, averaged over cells.
fn mean_binned_corr(act: &[f32], truth: &SimulationResult, fs: f64, bin_hz: f64) -> f64 {
    let t = truth.num_timepoints;
    let w = ((fs / bin_hz).round() as usize).max(1);
    let mut total = 0.0;
    for (c, gt) in truth.ground_truth.iter().enumerate() {
        let bin = |v: &mut dyn Iterator<Item = f64>| -> Vec<f64> {
            let v: Vec<f64> = v.collect();
            v.chunks(w).map(|c| c.iter().sum()).collect()
        };
        let a = bin(&mut act[c * t..(c + 1) * t].iter().map(|&x| x as f64));
        let b = bin(&mut gt.spikes.iter().copied());
        total += corr(&a, &b);
    }
    total / truth.ground_truth.len() as f64
}

// ---------------------------------------------------------------------------------------------
// Kernel recovery. Tolerances: tau_decay within 30 % of the nominal value, tau_rise within a
// factor of 2 (the rise is sub-frame for gcamp6f/jgcamp8f at 30 Hz, so it is only weakly
// identified), and activity correlating with the truth at 25 Hz... binned to 5 frames.

fn check_recovery(name: &str, cells: usize, frames: usize) {
    let data = sim(name, cells, frames, 7);
    let nominal = preset(name).unwrap().kernel;
    let mut run = IndecaRun::new(
        &f32s(&data.traces),
        cells,
        frames,
        30.0,
        IndecaConfig::default(),
    )
    .unwrap();
    run_to_end(&mut run);
    let r = run.result();
    eprintln!(
        "{name}: tau_rise {:.4} (true {}), tau_decay {:.4} (true {}), {} iterations, converged {}",
        r.tau_rise, nominal.tau_rise, r.tau_decay, nominal.tau_decay, r.iterations, r.converged
    );
    let rel_decay = (r.tau_decay - nominal.tau_decay).abs() / nominal.tau_decay;
    assert!(
        rel_decay < 0.3,
        "{name}: tau_decay {} vs {}",
        r.tau_decay,
        nominal.tau_decay
    );
    let ratio = r.tau_rise / nominal.tau_rise;
    assert!(
        (0.5..2.0).contains(&ratio),
        "{name}: tau_rise {} vs {}",
        r.tau_rise,
        nominal.tau_rise
    );
    assert!(!r.partial);
    assert!(r.cell_errors.is_empty(), "{:?}", r.cell_errors);
    let c = mean_binned_corr(run.activity(), &data, 30.0, 6.0);
    eprintln!("{name}: mean activity correlation at 6 Hz bins {c:.3}");
    assert!(c > 0.6, "{name}: activity correlation {c}");
}

#[test]
fn recovers_gcamp6f_kernel() {
    check_recovery("gcamp6f", 30, 4000);
}

#[test]
fn recovers_gcamp6s_kernel() {
    check_recovery("gcamp6s", 30, 4000);
}

#[test]
fn recovers_jgcamp8f_kernel() {
    check_recovery("jgcamp8f", 30, 4000);
}

// ---------------------------------------------------------------------------------------------
// Determinism

fn small_run(seed: u64) -> (String, Vec<f32>) {
    let data = sim("gcamp6f", 12, 2000, 3);
    let cfg = IndecaConfig {
        seed,
        max_iterations: 4,
        ..IndecaConfig::default()
    };
    let mut run = IndecaRun::new(&f32s(&data.traces), 12, 2000, 30.0, cfg).unwrap();
    run_to_end(&mut run);
    (run.result().to_json().unwrap(), run.activity().to_vec())
}

#[test]
fn same_seed_gives_bit_identical_results() {
    let a = small_run(5);
    let b = small_run(5);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    // A different seed places different subsets (the reports differ).
    let c = small_run(6);
    assert_ne!(a.0, c.0);
}

#[test]
fn stepping_in_small_units_gives_the_same_run() {
    // The browser worker drives `step_partial` a unit or two at a time so it can pause between
    // units; the run must be the one `step` gives, report for report and bit for bit.
    let data = sim("gcamp6f", 12, 2000, 3);
    let cfg = IndecaConfig {
        seed: 5,
        max_iterations: 3,
        ..IndecaConfig::default()
    };
    let mut whole = IndecaRun::new(&f32s(&data.traces), 12, 2000, 30.0, cfg.clone()).unwrap();
    let mut units = IndecaRun::new(&f32s(&data.traces), 12, 2000, 30.0, cfg).unwrap();
    assert_eq!(units.step_units(), (0, 0));
    while !whole.is_done() {
        let expected = whole.step().unwrap();
        let mut calls = 0;
        let mut last_done = 0;
        let got = loop {
            calls += 1;
            let budget = 1 + calls % 2; // uneven cuts: 2, 1, 2, ...
            if let Some(r) = units.step_partial(budget).unwrap() {
                break r;
            }
            let (done, total) = units.step_units();
            assert!(
                done > last_done && done < total,
                "progress {done}/{total} moves"
            );
            last_done = done;
        };
        assert!(
            calls > 3,
            "the iteration was cut into units ({calls} calls)"
        );
        assert_eq!(got, expected);
        assert_eq!(units.step_units(), (0, 0));
    }
    assert!(units.is_done());
    assert_eq!(units.step_partial(1).unwrap_err().code(), "NOT_READY");
    let n = whole.num_cells();
    whole.final_pass(0, n).unwrap();
    units.final_pass(0, n).unwrap();
    assert_eq!(
        whole.result().to_json().unwrap(),
        units.result().to_json().unwrap()
    );
    assert_eq!(whole.activity(), units.activity());
}

/// A fixed shuffle of 0..n (a multiplicative walk), so results come back out of order.
fn scrambled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (i * 7919 + 13) % n.max(1));
    order.reverse();
    order
}

#[test]
fn solves_spread_over_a_replica_give_the_same_run() {
    // How the browser spreads a run over workers: the owner hands out its segment tasks and
    // final-pass cells, a replica built from the same traces and config solves some of them, and
    // everything comes back as f64 words in any order. The run must be the one `step` gives.
    let data = sim("gcamp6f", 12, 2000, 3);
    let traces = f32s(&data.traces);
    let cfg = IndecaConfig {
        seed: 5,
        max_iterations: 3,
        ..IndecaConfig::default()
    };
    let mut whole = IndecaRun::new(&traces, 12, 2000, 30.0, cfg.clone()).unwrap();
    run_to_end(&mut whole);
    let mut owner = IndecaRun::new(&traces, 12, 2000, 30.0, cfg.clone()).unwrap();
    let replica = IndecaRun::new(&traces, 12, 2000, 30.0, cfg).unwrap();
    let mut reports = Vec::new();
    while !owner.is_done() {
        let words: Vec<f64> = owner
            .segment_tasks()
            .unwrap()
            .iter()
            .flat_map(|t| t.to_words())
            .collect();
        let tasks = split_records(&words).unwrap();
        assert!(tasks.len() > 4, "an iteration has several segments");
        let (_, total) = owner.step_units();
        for (n, &i) in scrambled(tasks.len()).iter().enumerate() {
            let task = SegmentTask::from_words(tasks[i]).unwrap();
            let by = if n % 2 == 0 { &replica } else { &owner };
            let sol = by.solve_segment(&task).unwrap();
            owner
                .accept_segment(SegmentSolution::from_words(&sol.to_words()).unwrap())
                .unwrap();
            assert_eq!(owner.step_units(), (n + 1, total));
        }
        assert!(owner.segment_tasks().unwrap().is_empty());
        reports.push(loop {
            if let Some(r) = owner.step_partial(1).unwrap() {
                break r;
            }
        });
    }
    assert_eq!(reports.len(), whole.iteration());
    let (tr, td) = owner.freeze_final_kernel().unwrap();
    for c in scrambled(12) {
        let cell = replica.solve_final_cell(c, tr, td).unwrap();
        let back = FinalCell::from_words(&cell.to_words()).unwrap();
        owner.accept_final_cell(c, Ok(back)).unwrap();
    }
    assert_eq!(
        owner.result().to_json().unwrap(),
        whole.result().to_json().unwrap()
    );
    assert_eq!(owner.activity(), whole.activity());
}

#[test]
fn returned_work_that_does_not_fit_is_refused() {
    let data = sim("gcamp6f", 6, 1200, 4);
    let traces = f32s(&data.traces);
    let mut run = IndecaRun::new(&traces, 6, 1200, 30.0, IndecaConfig::default()).unwrap();
    let tasks = run.segment_tasks().unwrap();
    let sol = run.solve_segment(&tasks[0]).unwrap();
    let code = |r: Result<(), SolverError>| r.unwrap_err().code();
    // Another kernel, a job that does not exist, a cut solution.
    let other = SegmentSolution {
        tau_decay: sol.tau_decay * 1.5,
        ..sol.clone()
    };
    assert_eq!(code(run.accept_segment(other)), "INVALID_STATE");
    let missing = SegmentSolution {
        job: tasks.len() + 3,
        ..sol.clone()
    };
    assert_eq!(code(run.accept_segment(missing)), "SHAPE_MISMATCH");
    let mut cut = sol.clone();
    cut.preprocessed.pop();
    assert_eq!(code(run.accept_segment(cut)), "SHAPE_MISMATCH");
    // A task outside the data is refused where it is solved.
    let outside = SegmentTask {
        t_end: 1201,
        ..tasks[0].clone()
    };
    assert_eq!(
        run.solve_segment(&outside).unwrap_err().code(),
        "SHAPE_MISMATCH"
    );
    // Twice the same job: the second is refused; a failed job counts as done.
    run.accept_segment(sol.clone()).unwrap();
    assert_eq!(code(run.accept_segment(sol)), "INVALID_STATE");
    let failure = UnitFailure {
        code: "NUMERICAL_FAILURE".into(),
        message: "replica gave up".into(),
    };
    run.reject_segment(tasks[1].job, failure.clone()).unwrap();
    assert_eq!(run.step_units().0, 2);
    assert_eq!(
        code(run.reject_segment(tasks[1].job, failure.clone())),
        "INVALID_STATE"
    );
    // Final-pass cells before the kernel is frozen, then with another kernel.
    let fc = run.solve_final_cell(0, 0.05, 0.5).unwrap();
    assert_eq!(code(run.accept_final_cell(0, Ok(fc.clone()))), "NOT_READY");
    let (tr, td) = run.freeze_final_kernel().unwrap();
    assert_ne!((tr, td), (0.05, 0.5));
    assert_eq!(code(run.accept_final_cell(0, Ok(fc))), "INVALID_STATE");
    assert_eq!(run.segment_tasks().unwrap_err().code(), "NOT_READY");
    // A failure elsewhere becomes that cell's error in the results, with its code.
    run.accept_final_cell(2, Err(failure)).unwrap();
    let good = run.solve_final_cell(1, tr, td).unwrap();
    assert_eq!(
        code(run.accept_final_cell(3, Ok(good.clone()))),
        "INVALID_STATE"
    );
    run.accept_final_cell(1, Ok(good)).unwrap();
    let result: Value = serde_json::from_str(&run.result().to_json().unwrap()).unwrap();
    assert_eq!(result["cell_errors"][0]["cell"], 2);
    assert_eq!(result["cell_errors"][0]["code"], "NUMERICAL_FAILURE");
    assert!(result["alphas"][1].as_f64().unwrap() > 0.0);
    assert!(result["alphas"][0].is_null());
}

#[cfg(feature = "parallel")]
#[test]
fn thread_count_does_not_change_the_result() {
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let one = pool(1).install(|| small_run(11));
    let two = pool(2).install(|| small_run(11));
    let three = pool(3).install(|| small_run(11));
    assert_eq!(one.0, two.0);
    assert_eq!(one.1, two.1);
    assert_eq!(one.0, three.0);
    assert_eq!(one.1, three.1);
}

#[test]
fn subsets_stay_inside_the_data_and_cover_about_the_target() {
    let data = sim("gcamp6f", 40, 3000, 1);
    let cfg = IndecaConfig {
        max_iterations: 2,
        upsample_target: None,
        tau_rise_init: Some(0.02),
        tau_decay_init: Some(0.4),
        ..IndecaConfig::default()
    };
    let mut run = IndecaRun::new(&f32s(&data.traces), 40, 3000, 30.0, cfg.clone()).unwrap();
    let (sc, sf) = run.subset_shape();
    let area = (sc * sf) as f64 / (40.0 * 3000.0) * cfg.num_subsets as f64;
    assert!(
        (area - cfg.target_coverage).abs() < 0.15,
        "subsets {sc} x {sf} cover {area}"
    );
    // aspect: frame fraction / cell fraction near the configured ratio
    let aspect = (sf as f64 / 3000.0) / (sc as f64 / 40.0);
    assert!(
        (aspect / cfg.aspect_ratio - 1.0).abs() < 0.3,
        "aspect {aspect}"
    );
    let rep = run.step().unwrap();
    assert_eq!(rep.iteration, 1);
    assert_eq!(
        rep.subsets.len() + rep.failed_subsets,
        cfg.num_subsets as usize
    );
    for s in &rep.subsets {
        assert!(s.cell_start < s.cell_end && s.cell_end <= 40);
        assert!(s.t_start < s.t_end && s.t_end <= 3000);
        assert_eq!((s.cell_end - s.cell_start, s.t_end - s.t_start), (sc, sf));
        assert!(s.tau_rise > 0.0 && s.tau_rise < s.tau_decay);
    }
    assert_eq!(rep.kernel_free.len(), rep.kernel_fit.len());
    assert!((rep.kernel_dt - 1.0 / 30.0).abs() < 1e-12);
    assert!(rep.activity_change > 0.0);
}

// ---------------------------------------------------------------------------------------------
// Convergence rule on synthetic sequences of kernel changes

fn converged_at(changes: &[f64], tol: f64, patience: u32, min_it: u32) -> Option<usize> {
    let mut t = ConvergenceTracker::new(tol, patience, min_it);
    for (i, &c) in changes.iter().enumerate() {
        if t.update(i + 1, c) {
            return Some(i + 1);
        }
    }
    None
}

#[test]
fn convergence_needs_patience_consecutive_small_changes() {
    let tol = 0.02;
    // patience 2: two small changes in a row.
    assert_eq!(converged_at(&[0.5, 0.01, 0.01], tol, 2, 1), Some(3));
    // interrupted streak restarts
    assert_eq!(
        converged_at(&[0.5, 0.01, 0.3, 0.01, 0.01], tol, 2, 1),
        Some(5)
    );
    // patience 1
    assert_eq!(converged_at(&[0.5, 0.01], tol, 1, 1), Some(2));
    // equal to tol is not below tol
    assert_eq!(converged_at(&[0.02, 0.02, 0.02], tol, 1, 1), None);
    // NaN breaks the streak
    assert_eq!(
        converged_at(&[0.01, f64::NAN, 0.01, 0.01], tol, 2, 1),
        Some(4)
    );
}

#[test]
fn convergence_waits_for_min_iterations() {
    let tol = 0.02;
    // small from the start, but not before iteration 4
    assert_eq!(converged_at(&[0.0, 0.0, 0.0, 0.0, 0.0], tol, 2, 4), Some(4));
    // a streak built before min_iterations counts once min_iterations is reached
    assert_eq!(converged_at(&[0.5, 0.0, 0.0, 0.0], tol, 2, 4), Some(4));
    assert_eq!(converged_at(&[0.0; 10], tol, 3, 1), Some(3));
    // never below tolerance
    assert_eq!(converged_at(&[0.1; 10], tol, 1, 1), None);
    // stays converged
    let mut t = ConvergenceTracker::new(tol, 1, 1);
    assert!(t.update(1, 0.0));
    assert!(t.update(2, 0.9));
}

#[test]
fn run_stops_at_max_iterations_and_refuses_more_steps() {
    let data = sim("gcamp6f", 8, 1500, 2);
    let cfg = IndecaConfig {
        max_iterations: 2,
        min_iterations: 5,
        upsample_target: None,
        ..IndecaConfig::default()
    };
    let mut run = IndecaRun::new(&f32s(&data.traces), 8, 1500, 30.0, cfg).unwrap();
    run.step().unwrap();
    assert!(!run.is_done());
    let rep = run.step().unwrap();
    assert!(
        !rep.converged,
        "min_iterations > max_iterations never converges"
    );
    assert!(run.is_done() && !run.is_converged());
    assert_eq!(run.step().unwrap_err().code(), "NOT_READY");
    run.final_pass(0, 8).unwrap();
    let r = run.result();
    assert_eq!(r.iterations, 2);
    assert!(!r.converged);
}

#[test]
fn final_kernel_is_the_median_of_the_last_iterations() {
    let data = sim("gcamp6s", 10, 2000, 4);
    let cfg = IndecaConfig {
        max_iterations: 5,
        min_iterations: 5,
        upsample_target: None,
        ..IndecaConfig::default()
    };
    let mut run = IndecaRun::new(&f32s(&data.traces), 10, 2000, 30.0, cfg).unwrap();
    let mut rises = Vec::new();
    let mut decays = Vec::new();
    while !run.is_done() {
        let r = run.step().unwrap();
        rises.push(r.tau_rise);
        decays.push(r.tau_decay);
    }
    run.final_pass(0, 3).unwrap();
    let r = run.result();
    let k = rises.len() - FINAL_WINDOW.min(rises.len());
    assert_eq!(r.tau_decay, median(&decays[k..]).unwrap());
    let mr = median(&rises[k..]).unwrap();
    assert!(r.tau_rise == mr || r.tau_rise == 0.5 * r.tau_decay);
    assert_eq!(r.history.len(), rises.len());
    // After the final pass starts the kernel is frozen.
    assert_eq!(run.step().unwrap_err().code(), "NOT_READY");
}

// ---------------------------------------------------------------------------------------------
// Partial results and per-cell outputs

#[test]
fn partial_final_pass_is_flagged_and_rows_are_zero() {
    let data = sim("gcamp6f", 6, 1200, 9);
    let cfg = IndecaConfig {
        max_iterations: 2,
        upsample_target: None,
        ..IndecaConfig::default()
    };
    let mut run = IndecaRun::new(&f32s(&data.traces), 6, 1200, 30.0, cfg).unwrap();
    let before = run.result();
    assert!(before.partial);
    assert_eq!(before.iterations, 0);
    assert!(before.alphas.iter().all(Option::is_none));
    run.step().unwrap();
    run.final_pass(0, 2).unwrap();
    run.final_pass(4, 5).unwrap();
    let r = run.result();
    assert!(r.partial);
    for c in 0..6 {
        let done = c < 2 || c == 4;
        assert_eq!(r.alphas[c].is_some(), done, "cell {c}");
        assert_eq!(r.pves[c].is_some(), done);
        assert_eq!(r.event_rates[c].is_some(), done);
        let row = &run.activity()[c * 1200..(c + 1) * 1200];
        if !done {
            assert!(row.iter().all(|&x| x == 0.0));
        } else {
            assert!(row.iter().any(|&x| x > 0.0), "cell {c} has no events");
        }
    }
    // An empty range is fine, an out-of-range one is refused.
    run.final_pass(3, 3).unwrap();
    assert_eq!(run.final_pass(5, 7).unwrap_err().code(), "SHAPE_MISMATCH");
    assert_eq!(run.final_pass(3, 2).unwrap_err().code(), "SHAPE_MISMATCH");
    run.final_pass(0, 6).unwrap();
    let r = run.result();
    assert!(!r.partial);
    assert_eq!(r.cell_indices, (0..6).collect::<Vec<_>>());
    // The fit of a finished cell is alpha * (h * s) + baseline; its trace has the input length.
    let fit = run.cell_fit(0).unwrap();
    let tr = run.cell_trace(0).unwrap();
    assert_eq!((fit.len(), tr.len()), (1200, 1200));
    let resid: f64 = fit
        .iter()
        .zip(&tr)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum::<f64>();
    let var: f64 = {
        let m = tr.iter().map(|&x| x as f64).sum::<f64>() / 1200.0;
        tr.iter().map(|&x| (x as f64 - m).powi(2)).sum()
    };
    assert!(
        resid < var,
        "fit explains less than the mean: {resid} vs {var}"
    );
    assert_eq!(run.cell_fit(6).unwrap_err().code(), "INVALID_PARAMETER");
}

// ---------------------------------------------------------------------------------------------
// Errors

fn new_err(traces: &[f32], n: usize, t: usize, fs: f64, cfg: IndecaConfig) -> SolverError {
    IndecaRun::new(traces, n, t, fs, cfg).unwrap_err()
}

#[test]
fn bad_inputs_give_codes() {
    let ok = vec![1.0f32; 2 * 100];
    let d = IndecaConfig::default;
    let mut nan = ok.clone();
    nan[150] = f32::NAN;
    nan[160] = f32::INFINITY;
    match new_err(&nan, 2, 100, 30.0, d()) {
        SolverError::NonFiniteInput { count, first_index } => {
            assert_eq!((count, first_index), (2, 150))
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(new_err(&ok, 3, 100, 30.0, d()).code(), "SHAPE_MISMATCH");
    assert_eq!(new_err(&[], 0, 100, 30.0, d()).code(), "SHAPE_MISMATCH");
    assert_eq!(
        new_err(&ok[..20], 2, 10, 30.0, d()).code(),
        "TRACE_TOO_SHORT"
    );
    for fs in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(new_err(&ok, 2, 100, fs, d()).code(), "INVALID_PARAMETER");
    }
    // An upsampling factor above the solver's cap.
    let cfg = IndecaConfig {
        upsample_target: Some(90_000.0),
        ..d()
    };
    assert_eq!(new_err(&ok, 2, 100, 30.0, cfg).code(), "INVALID_PARAMETER");
}

#[test]
fn bad_configs_give_codes_naming_the_field() {
    let cases: Vec<(Value, &str)> = vec![
        (json!({"max_iterations": 0}), "max_iterations"),
        (json!({"max_iterations": 201}), "max_iterations"),
        (json!({"convergence_tol": 0.0}), "convergence_tol"),
        (json!({"convergence_tol": 1.0}), "convergence_tol"),
        (json!({"patience": 0}), "patience"),
        (json!({"min_iterations": 0}), "min_iterations"),
        (json!({"num_subsets": 0}), "num_subsets"),
        (json!({"target_coverage": 0.0}), "target_coverage"),
        (json!({"target_coverage": 1.5}), "target_coverage"),
        (json!({"aspect_ratio": 0.0}), "aspect_ratio"),
        (json!({"seed": 9007199254740992u64}), "seed"),
        (json!({"tau_rise_init": 0.1}), "tau_rise_init"),
        (json!({"tau_decay_init": 0.1}), "tau_decay_init"),
        (
            json!({"tau_rise_init": 0.5, "tau_decay_init": 0.4}),
            "tau_rise_init",
        ),
        (
            json!({"tau_rise_init": -0.1, "tau_decay_init": 0.4}),
            "tau_rise_init",
        ),
        (json!({"kernel_length_s": 0.0}), "kernel_length_s"),
        (json!({"smooth_lambda": -1.0}), "smooth_lambda"),
        (json!({"lambda": -1.0}), "lambda"),
        (json!({"max_solver_iters": 0}), "max_solver_iters"),
        (json!({"upsample_target": 0.0}), "upsample_target"),
        (json!({"upsample_target": -30.0}), "upsample_target"),
    ];
    for (cfg, field) in cases {
        match IndecaConfig::from_json(&cfg.to_string()) {
            Err(SolverError::InvalidParameter { name, .. }) => assert_eq!(name, field, "{cfg}"),
            other => panic!("{cfg}: {other:?}"),
        }
    }
    for bad in [
        r#"{"max_iteration": 3}"#,
        r#"{"seed": -1}"#,
        r#"{"patience": 1.5}"#,
        r#"{"refine_fast": "yes"}"#,
        "[1]",
        "{",
    ] {
        assert_eq!(
            IndecaConfig::from_json(bad).unwrap_err().code(),
            "INVALID_STATE",
            "{bad}"
        );
    }
    // null is accepted where the schema allows it, and means "off / automatic".
    let c =
        IndecaConfig::from_json(r#"{"upsample_target": null, "kernel_length_s": null}"#).unwrap();
    assert_eq!(c.upsample_target, None);
    // A kernel too long for the subsets is refused once the data shape is known.
    let ok = vec![1.0f32; 2 * 300];
    let cfg = IndecaConfig {
        kernel_length_s: Some(9.0),
        tau_rise_init: Some(0.05),
        tau_decay_init: Some(0.5),
        ..IndecaConfig::default()
    };
    match new_err(&ok, 2, 300, 30.0, cfg) {
        SolverError::InvalidParameter { name, .. } => assert_eq!(name, "kernel_length_s"),
        e => panic!("{e:?}"),
    }
    // Flat traces give the peak-based seed nothing to work with: the error says what to set.
    match new_err(&ok, 2, 300, 30.0, IndecaConfig::default()) {
        SolverError::InvalidParameter { reason, .. } => {
            assert!(reason.contains("tau_rise_init"), "{reason}")
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn helpers_behave() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    assert_eq!(median(&[f64::NAN, 1.0]), Some(1.0));
    assert_eq!(median(&[]), None);
    let a = biexp_curve(0.05, 0.5, 1.0 / 30.0, 90);
    assert_eq!(a[0], 0.0);
    assert!((a.iter().cloned().fold(0.0, f64::max) - 1.0).abs() < 1e-12);
    let b: Vec<f64> = a.iter().map(|x| 3.0 * x).collect();
    assert!(shape_change(&a, &b) < 1e-12, "scale does not count");
    let c = biexp_curve(0.05, 0.6, 1.0 / 30.0, 90);
    assert!(shape_change(&a, &c) > 0.01);
}

// ---------------------------------------------------------------------------------------------
// Schemas: the config schema is the cross-language source of truth for names, defaults and
// bounds; the results JSON validates against the results schema.

fn schema(text: &str) -> Value {
    serde_json::from_str(text).expect("schema is valid JSON")
}

fn types_of(s: &Value) -> Vec<&str> {
    match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
        _ => vec![],
    }
}

/// Minimal JSON Schema check: type (string or list), const, enum, required, properties,
/// additionalProperties false, items, numeric bounds. `$ref`s to other files are skipped here
/// (the config is checked on its own).
fn errors(s: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    if s.get("$ref").is_some() {
        return;
    }
    if let Some(c) = s.get("const") {
        if c != v {
            out.push(format!("{path}: {v} != {c}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            out.push(format!("{path}: {v} not in enum"));
        }
    }
    let ts = types_of(s);
    if !ts.is_empty() {
        let ok = ts.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "number" => v.is_number(),
            "integer" => v.is_u64() || v.is_i64(),
            "boolean" => v.is_boolean(),
            "string" => v.is_string(),
            "null" => v.is_null(),
            t => panic!("type {t}"),
        });
        if !ok {
            out.push(format!("{path}: {v} is not {ts:?}"));
            return;
        }
    }
    if let Some(x) = v.as_f64() {
        let b = |k: &str| s.get(k).and_then(Value::as_f64);
        let bad = b("minimum").is_some_and(|m| x < m)
            || b("maximum").is_some_and(|m| x > m)
            || b("exclusiveMinimum").is_some_and(|m| x <= m)
            || b("exclusiveMaximum").is_some_and(|m| x >= m);
        if bad {
            out.push(format!("{path}: {x} out of bounds"));
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            errors(items, x, &format!("{path}[{i}]"), out);
        }
    }
    if let Some(obj) = v.as_object() {
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !obj.contains_key(r.as_str().unwrap()) {
                out.push(format!("{path}: missing {r}"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, x) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => errors(ps, x, &format!("{path}.{k}"), out),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    out.push(format!("{path}: unexpected {k}"))
                }
                None => {}
            }
        }
    }
}

fn check(s: &Value, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    errors(s, v, "$", &mut out);
    out
}

#[test]
fn config_schema_matches_rust_names_and_defaults() {
    let s = schema(CONFIG_SCHEMA);
    let d = serde_json::to_value(IndecaConfig::default()).unwrap();
    let props = s["properties"].as_object().unwrap();
    let mut want: Vec<&String> = props.keys().collect();
    let mut have: Vec<&String> = d.as_object().unwrap().keys().collect();
    want.sort();
    have.sort();
    assert_eq!(have, want);
    for (k, p) in props {
        let dv = &p["default"];
        let same = match (dv.as_f64(), d[k].as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => dv == &d[k],
        };
        assert!(same, "default of {k}: schema {dv}, rust {}", d[k]);
    }
    assert!(check(&s, &d).is_empty());
    assert!(s.get("required").is_none(), "every field is optional");
    assert_eq!(s["additionalProperties"], false);
    // And the JSON the bindings hand out as the default config is exactly this.
    assert_eq!(
        serde_json::from_str::<Value>(&IndecaConfig::default().to_json().unwrap()).unwrap(),
        d
    );
}

#[test]
fn config_schema_bounds_agree_with_validate() {
    let s = schema(CONFIG_SCHEMA);
    let mut n = 0;
    for (k, p) in s["properties"].as_object().unwrap() {
        let integer = types_of(p).contains(&"integer");
        let mut cases: Vec<(f64, bool)> = Vec::new();
        if let Some(m) = p["minimum"].as_f64() {
            cases.extend([(m, true), (m - 1.0, false)]);
        }
        if let Some(m) = p["maximum"].as_f64() {
            cases.extend([
                (m, true),
                (m + if integer { 1.0 } else { 1e-3 * m.max(1.0) }, false),
            ]);
        }
        if let Some(m) = p["exclusiveMinimum"].as_f64() {
            cases.push((m, false));
        }
        if let Some(m) = p["exclusiveMaximum"].as_f64() {
            cases.push((m, false));
        }
        for (x, accept) in cases {
            let mut v = serde_json::to_value(IndecaConfig::default()).unwrap();
            v[k] = if integer && x >= 0.0 {
                json!(x as u64)
            } else if integer {
                json!(x as i64)
            } else {
                json!(x)
            };
            // The init taus are checked as a pair.
            if k == "tau_rise_init" {
                v["tau_decay_init"] = json!(1e9);
            }
            if k == "tau_decay_init" {
                v["tau_rise_init"] = json!(1e-9);
            }
            let schema_ok = check(&s, &v).is_empty();
            assert_eq!(schema_ok, accept, "schema on {k} = {x}");
            let rust = IndecaConfig::from_json(&v.to_string());
            match (accept, rust) {
                (true, Ok(_)) => {}
                (false, Err(SolverError::InvalidParameter { name, .. })) => {
                    assert_eq!(name, k.as_str())
                }
                (false, Err(SolverError::InvalidState(_))) if integer && x < 0.0 => {}
                (_, other) => panic!("rust on {k} = {x}: expected {accept}, got {other:?}"),
            }
            n += 1;
        }
    }
    assert!(n >= 25, "only {n} bound cases");
}

#[test]
fn results_json_validates_against_the_schema() {
    let data = sim("gcamp6f", 5, 1200, 12);
    let cfg = IndecaConfig {
        max_iterations: 2,
        upsample_target: None,
        ..IndecaConfig::default()
    };
    let mut run = IndecaRun::new(&f32s(&data.traces), 5, 1200, 30.0, cfg).unwrap();
    let s = schema(RESULTS_SCHEMA);
    let cs = schema(CONFIG_SCHEMA);
    let empty: Value = serde_json::from_str(&run.result().to_json().unwrap()).unwrap();
    assert!(check(&s, &empty).is_empty(), "{:?}", check(&s, &empty));
    while !run.is_done() {
        run.step().unwrap();
    }
    run.final_pass(0, 2).unwrap();
    let partial: Value = serde_json::from_str(&run.result().to_json().unwrap()).unwrap();
    assert!(check(&s, &partial).is_empty(), "{:?}", check(&s, &partial));
    assert_eq!(partial["partial"], true);
    assert_eq!(partial["alphas"][4], Value::Null);
    assert!(check(&cs, &partial["config"]).is_empty());
    run.final_pass(2, 5).unwrap();
    let full: Value = serde_json::from_str(&run.result().to_json().unwrap()).unwrap();
    assert!(check(&s, &full).is_empty(), "{:?}", check(&s, &full));
    assert_eq!(full["partial"], false);
    assert_eq!(full["app"], "cadecon");
    assert_eq!(full["history"].as_array().unwrap().len(), 2);
    let props: Vec<&String> = s["properties"].as_object().unwrap().keys().collect();
    for k in full.as_object().unwrap().keys() {
        assert!(props.contains(&k), "{k} not in the results schema");
    }
}
