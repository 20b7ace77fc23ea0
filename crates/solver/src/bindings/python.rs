//! Python boundary (feature `python`), built by maturin as `calab._solver`.
//!
//! Only type conversion and error mapping live here. Errors become instances of the exception
//! classes in `calab._errors`, chosen by the core's stable error code, so the hierarchy is defined
//! once on the Python side and the codes once in Rust. Batch calls release the GIL and spread
//! rows over all cores (rayon).

use crate::deconvolve::{deconvolve_rows, DeconvOptions, Method};
use crate::error::{SolverError, ERROR_CODES};
use crate::kernel::{self, KernelParams};
use crate::operator::{Constraint, ConvMode};
use crate::{alloc, baseline, filter, simulate};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

fn to_py(py: Python<'_>, e: SolverError) -> PyErr {
    let made = py
        .import("calab._errors")
        .and_then(|m| m.getattr("from_code"))
        .and_then(|f| f.call1((e.code(), e.to_string())));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => PyRuntimeError::new_err(format!("[{}] {}", e.code(), e)),
    }
}

/// Run a binding body with panics caught: a panic in the core (or in a rayon worker it waits
/// for) becomes `calab.InternalError` (code `INTERNAL`) instead of crossing into Python as
/// pyo3's `PanicException`. The GIL is re-taken on unwind by `allow_threads`' guard.
fn guard<T>(py: Python<'_>, body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "a panic without a message".to_string()
            };
            Err(to_py(py, SolverError::Internal(msg)))
        }
    }
}

/// Probe (see [`alloc::probe`]) the memory a batch of `rows` x `cols` is about to take: `kept`
/// per-row result arrays held until the batch ends, plus `working` arrays of `cols` per thread.
fn probe_rows(
    rows: usize,
    cols: usize,
    kept: u128,
    working: u128,
    what: &str,
) -> crate::Result<()> {
    let threads = rayon::current_num_threads().min(rows.max(1)) as u128;
    let t = alloc::bytes_of::<f64>(cols);
    alloc::probe(kept * rows as u128 * t + working * threads * t, what)
}

/// How often a waiting call looks for Ctrl-C and reports progress.
const POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Run `work` (no Python inside) on a scoped thread while this one waits with the GIL released,
/// looking for signals every [`POLL`]: on Ctrl-C the work is cancelled through `crate::cancel`,
/// joined, and the `KeyboardInterrupt` returned, so a long solve stops cleanly instead of running
/// to the end. `report(done, total)` (a Python callable, optional) hears the progress in
/// [`crate::cancel::UNITS_PER_ROW`] per row. If no thread can be started (e.g. under a tight
/// memory limit) the work runs on this thread, not interruptible.
fn interruptible<T: Send>(
    py: Python<'_>,
    rows: usize,
    report: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    let progress = crate::cancel::Progress::new();
    let total = rows as u64 * crate::cancel::UNITS_PER_ROW;
    let slot = std::sync::Mutex::new(Some(work));
    let take = || slot.lock().ok().and_then(|mut w| w.take());
    // `finished` under its condvar: set by the worker when it is done.
    let done = (std::sync::Mutex::new(false), std::sync::Condvar::new());
    let finish = || {
        if let Ok(mut f) = done.0.lock() {
            *f = true;
        }
        done.1.notify_all();
    };
    // Wait up to POLL; true once the worker is done.
    let wait = || match done.0.lock() {
        Ok(f) => match done.1.wait_timeout_while(f, POLL, |f| !*f) {
            Ok((f, _)) => *f,
            Err(_) => true,
        },
        Err(_) => true,
    };
    std::thread::scope(|scope| {
        let p = progress.clone();
        let spawned = std::thread::Builder::new()
            .name("calab-solve".into())
            .spawn_scoped(scope, || {
                struct Finish<F: Fn()>(F);
                impl<F: Fn()> Drop for Finish<F> {
                    fn drop(&mut self) {
                        (self.0)();
                    }
                }
                let _finish = Finish(&finish); // also on panic
                take().map(|w| crate::cancel::with_progress(Some(p), w))
            });
        let handle = match spawned {
            Ok(h) => h,
            Err(_) => {
                let w = take()
                    .ok_or_else(|| to_py(py, SolverError::Internal("solver work lost".into())))?;
                return Ok(py.allow_threads(w));
            }
        };
        while !py.allow_threads(wait) {
            let stop = match report {
                Some(cb) => cb.call1((progress.done(), total)).err(),
                None => None,
            }
            .or_else(|| py.check_signals().err());
            if let Some(e) = stop {
                progress.cancel();
                let _ = py.allow_threads(|| handle.join());
                return Err(e);
            }
        }
        let joined = py.allow_threads(|| handle.join());
        if let (Some(cb), Ok(Some(_))) = (report, &joined) {
            cb.call1((total, total))?; // the bar ends at 100%
        }
        match joined {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(to_py(py, SolverError::Internal("solver work lost".into()))),
            Err(payload) => std::panic::resume_unwind(payload),
        }
    })
}

macro_rules! py_try {
    ($py:expr, $e:expr) => {
        $e.map_err(|err| to_py($py, err))?
    };
}

fn slice<'a>(py: Python<'_>, a: &'a PyReadonlyArray1<'_, f64>) -> PyResult<&'a [f64]> {
    a.as_slice().map_err(|_| {
        to_py(
            py,
            SolverError::ShapeMismatch("expected a contiguous 1-D float64 array".into()),
        )
    })
}

/// The (rows, cols) shape and the samples of a C-contiguous 2-D array of `dtype`.
fn matrix<'a, T: numpy::Element>(
    py: Python<'_>,
    a: &'a PyReadonlyArray2<'_, T>,
    dtype: &str,
) -> PyResult<(usize, usize, &'a [T])> {
    let shape = a.shape();
    let data = a.as_slice().map_err(|_| {
        to_py(
            py,
            SolverError::ShapeMismatch(format!("expected a C-contiguous 2-D {dtype} array")),
        )
    })?;
    Ok((shape[0], shape[1], data))
}

/// Per-row failures of a batch call, as (row, code, message) so the caller can name the row;
/// `None` for the rows that succeeded.
type RowErrors = Vec<Option<(usize, String, String)>>;

/// The one per-row result loop of every batch call: hands each row's output to `store(row,
/// output)` and turns each failed row into its (row, code, message) entry.
fn collect_rows<T>(results: Vec<crate::Result<T>>, mut store: impl FnMut(usize, T)) -> RowErrors {
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Ok(o) => {
                store(i, o);
                None
            }
            Err(e) => Some((i, e.code().to_string(), e.to_string())),
        })
        .collect()
}

/// Row `i` of a row-major matrix with `cols` columns.
fn row_mut(m: &mut [f64], i: usize, cols: usize) -> &mut [f64] {
    &mut m[i * cols..(i + 1) * cols]
}

#[pyfunction]
fn build_kernel<'py>(
    py: Python<'py>,
    tau_rise: f64,
    tau_decay: f64,
    fs: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    guard(py, || {
        Ok(py_try!(py, kernel::build_kernel(tau_rise, tau_decay, fs)).into_pyarray(py))
    })
}

#[pyfunction]
fn compute_lipschitz(py: Python<'_>, kernel: PyReadonlyArray1<'_, f64>) -> PyResult<f64> {
    guard(py, || {
        let k = slice(py, &kernel)?;
        Ok(py_try!(py, kernel::compute_lipschitz(k)))
    })
}

/// (g1, g2, d, r, gain, dc_gain)
#[pyfunction]
fn tau_to_ar2(
    py: Python<'_>,
    tau_rise: f64,
    tau_decay: f64,
    fs: f64,
) -> PyResult<(f64, f64, f64, f64, f64, f64)> {
    guard(py, || {
        let a = py_try!(py, kernel::tau_to_ar2(tau_rise, tau_decay, fs));
        Ok((a.g1, a.g2, a.d, a.r, a.gain, a.dc_gain))
    })
}

/// (peak_time_s, fwhm_s)
#[pyfunction]
fn kernel_shape(py: Python<'_>, tau_rise: f64, tau_decay: f64, fs: f64) -> PyResult<(f64, f64)> {
    guard(py, || {
        let p = py_try!(py, KernelParams::new(tau_rise, tau_decay, fs));
        Ok((p.peak_time(), p.fwhm()))
    })
}

#[pyfunction]
fn bandpass_filter<'py>(
    py: Python<'py>,
    trace: PyReadonlyArray1<'_, f64>,
    tau_rise: f64,
    tau_decay: f64,
    fs: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    guard(py, || {
        let p = py_try!(py, KernelParams::new(tau_rise, tau_decay, fs));
        let y = slice(py, &trace)?;
        Ok(py_try!(py, filter::bandpass_filter(y, &p)).into_pyarray(py))
    })
}

#[pyfunction]
fn filter_cutoffs(py: Python<'_>, tau_rise: f64, tau_decay: f64, fs: f64) -> PyResult<(f64, f64)> {
    guard(py, || {
        let p = py_try!(py, KernelParams::new(tau_rise, tau_decay, fs));
        Ok(filter::filter_cutoffs(&p))
    })
}

/// How far the solver's activity sits before the spikes it stands for, in frames (0 to 1/2).
#[pyfunction]
fn frame_centre_shift(py: Python<'_>, tau_rise: f64, tau_decay: f64, fs: f64) -> PyResult<f64> {
    guard(py, || {
        let p = py_try!(py, KernelParams::new(tau_rise, tau_decay, fs));
        Ok(kernel::frame_centre_shift(&p))
    })
}

#[pyfunction]
fn estimate_drift<'py>(
    py: Python<'py>,
    trace: PyReadonlyArray1<'_, f64>,
    tau_decay: f64,
    fs: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    guard(py, || {
        kernel::KernelParams::new(tau_decay * 0.5, tau_decay, fs).map_err(|e| to_py(py, e))?;
        let y = slice(py, &trace)?;
        Ok(py_try!(py, baseline::estimate_drift(y, tau_decay, fs)).into_pyarray(py))
    })
}

type RowsOut<'py> = (Bound<'py, PyArray2<f64>>, RowErrors);

/// Rolling `quantile` over `window` samples of every row of a C-contiguous (cells, T) float64
/// matrix ([`baseline::rolling_quantile`], rows in parallel, GIL released). Per-row failures
/// come back as (row, code, message), as in [`deconvolve_batch`].
#[pyfunction]
fn rolling_quantile_batch<'py>(
    py: Python<'py>,
    traces: PyReadonlyArray2<'_, f64>,
    window: usize,
    quantile: f64,
) -> PyResult<RowsOut<'py>> {
    guard(py, || {
        let (rows, cols, data) = matrix(py, &traces, "float64")?;
        let n = py_try!(py, alloc::checked_len(rows, cols, "the traces"));
        let mut out = py_try!(py, alloc::try_vec(n, f64::NAN, "the rolling quantile"));
        let errors = if rows > 0 && cols > 0 {
            let results = py_try!(
                py,
                py.allow_threads(|| crate::rows::map_rows(data, cols, |row| {
                    baseline::rolling_quantile(row, window, quantile)
                }))
            );
            collect_rows(results, |i, v| {
                row_mut(&mut out, i, cols).copy_from_slice(&v);
            })
        } else {
            Vec::new()
        };
        Ok((out.into_pyarray(py).reshape([rows, cols])?, errors))
    })
}

type ScalarRowsOut<'py> = (Bound<'py, PyArray1<f64>>, RowErrors);

/// Noise standard deviation of every row of a C-contiguous (cells, T) float64 matrix
/// ([`crate::noise::estimate_noise`], rows in parallel, GIL released); NaN and an error entry
/// (row, code, message) for rows it cannot measure.
#[pyfunction]
fn estimate_noise_batch<'py>(
    py: Python<'py>,
    traces: PyReadonlyArray2<'_, f64>,
) -> PyResult<ScalarRowsOut<'py>> {
    guard(py, || {
        let (rows, cols, data) = matrix(py, &traces, "float64")?;
        let mut out = vec![f64::NAN; rows];
        let errors = if rows > 0 {
            if cols == 0 {
                return Err(to_py(py, SolverError::TraceTooShort { len: 0, min: 3 }));
            }
            let results = py_try!(
                py,
                py.allow_threads(|| crate::rows::map_rows(
                    data,
                    cols,
                    crate::noise::estimate_noise
                ))
            );
            collect_rows(results, |i, v| out[i] = v)
        } else {
            Vec::new()
        };
        Ok((out.into_pyarray(py), errors))
    })
}

type BatchOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<f64>>,
    RowErrors,
);

/// Deconvolve every row of a C-contiguous (cells, T) float64 matrix. Per-row failures come back
/// as (row, code, message) so the caller can name the row.
#[pyfunction]
#[pyo3(signature = (traces, tau_rise, tau_decay, lam, fs, max_iters, conv_mode, constraint, method, bandpass, remove_drift, centre_on_frames))]
#[allow(clippy::too_many_arguments)]
fn deconvolve_batch<'py>(
    py: Python<'py>,
    traces: PyReadonlyArray2<'_, f64>,
    tau_rise: f64,
    tau_decay: f64,
    lam: Option<f64>,
    fs: f64,
    max_iters: u32,
    conv_mode: &str,
    constraint: &str,
    method: &str,
    bandpass: bool,
    remove_drift: bool,
    centre_on_frames: bool,
) -> PyResult<BatchOut<'py>> {
    guard(py, || {
        let mut opts = DeconvOptions::new(tau_rise, tau_decay, lam.unwrap_or(0.0), fs);
        opts.lambda_from_noise = lam.is_none();
        opts.centre_on_frames = centre_on_frames;
        opts.max_iters = max_iters;
        opts.conv_mode = py_try!(py, ConvMode::parse(conv_mode));
        opts.constraint = py_try!(py, Constraint::parse(constraint));
        opts.method = py_try!(py, Method::parse(method));
        opts.bandpass = bandpass;
        opts.remove_drift = remove_drift;
        let (rows, cols, data) = matrix(py, &traces, "float64")?;
        py_try!(py, opts.validate());
        let n = py_try!(py, alloc::checked_len(rows, cols, "the traces"));
        let mut activity = py_try!(py, alloc::try_zeros(n, "the activity"));
        let mut reconv = py_try!(py, alloc::try_zeros(n, "the reconvolution"));
        py_try!(py, probe_rows(rows, cols, 2, 40, "deconvolving"));
        let results = if rows == 0 {
            Vec::new()
        } else {
            py_try!(
                py,
                interruptible(py, rows, None, || deconvolve_rows(data, cols, &opts))?
            )
        };
        let mut base = vec![f64::NAN; rows];
        let mut iters = vec![0u32; rows];
        let mut conv = vec![false; rows];
        let mut lambdas = vec![f64::NAN; rows];
        let errors = collect_rows(results, |i, o| {
            row_mut(&mut activity, i, cols).copy_from_slice(&o.activity);
            row_mut(&mut reconv, i, cols).copy_from_slice(&o.reconvolution);
            base[i] = o.baseline;
            iters[i] = o.iterations;
            conv[i] = o.converged;
            lambdas[i] = o.lambda;
        });
        let to2 = |v: Vec<f64>| -> PyResult<Bound<'py, PyArray2<f64>>> {
            v.into_pyarray(py).reshape([rows, cols])
        };
        Ok((
            to2(activity)?,
            base.into_pyarray(py),
            to2(reconv)?,
            iters.into_pyarray(py),
            conv.into_pyarray(py),
            lambdas.into_pyarray(py),
            errors,
        ))
    })
}

type SimOut<'py> = (Bound<'py, PyArray2<f64>>, Vec<Bound<'py, PyDict>>, String);

/// Run the simulator on a JSON config; returns (traces (cells, T), ground truth as one dict
/// per cell, the effective config as JSON).
#[pyfunction]
fn simulate_json<'py>(py: Python<'py>, config_json: &str) -> PyResult<SimOut<'py>> {
    guard(py, || {
        let cfg = py_try!(py, simulate::SimulationConfig::from_json(config_json));
        let res = py_try!(py, py.allow_threads(|| simulate::simulate(&cfg)));
        let effective = py_try!(py, cfg.to_json());
        let (n, t) = (res.num_cells, res.num_timepoints);
        let traces = res.traces.into_pyarray(py).reshape([n, t])?;
        let mut truth = Vec::with_capacity(n);
        for gt in res.ground_truth {
            let d = PyDict::new(py);
            d.set_item("spikes", gt.spikes.into_pyarray(py))?;
            d.set_item("clean_calcium", gt.clean_calcium.into_pyarray(py))?;
            d.set_item("alpha", gt.alpha)?;
            d.set_item("tau_rise", gt.tau_rise)?;
            d.set_item("tau_decay", gt.tau_decay)?;
            d.set_item("baseline", gt.baseline)?;
            d.set_item("noise_std", gt.noise_std)?;
            d.set_item("rate_hz", gt.rate_hz)?;
            d.set_item("drift_amplitude", gt.drift_amplitude)?;
            d.set_item("bleaching_amplitude", gt.bleaching_amplitude)?;
            d.set_item("bleaching_tau_s", gt.bleaching_tau_s)?;
            d.set_item("saturation_kd", gt.saturation_kd)?;
            truth.push(d);
        }
        Ok((traces, truth, effective))
    })
}

/// The default simulator config as JSON.
#[pyfunction]
fn default_config_json(py: Python<'_>) -> PyResult<String> {
    guard(py, || {
        Ok(py_try!(py, simulate::SimulationConfig::default().to_json()))
    })
}

/// Preset config as JSON.
#[pyfunction]
fn preset_json(py: Python<'_>, name: &str) -> PyResult<String> {
    guard(py, || {
        let cfg = py_try!(py, simulate::preset(name));
        Ok(py_try!(py, cfg.to_json()))
    })
}

type FillOut<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<u64>>);

/// Copy of a C-contiguous (cells, T) float64 matrix with its non-finite samples filled by the
/// core's one rule (`crate::gaps`), and the number filled per row.
#[pyfunction]
fn fill_non_finite<'py>(
    py: Python<'py>,
    traces: PyReadonlyArray2<'_, f64>,
) -> PyResult<FillOut<'py>> {
    guard(py, || {
        let (rows, cols, data) = matrix(py, &traces, "float64")?;
        let n = py_try!(py, alloc::checked_len(rows, cols, "the traces"));
        let mut out = py_try!(py, alloc::try_with_capacity(n, "the filled traces"));
        out.extend_from_slice(data);
        let counts = if rows == 0 || cols == 0 {
            vec![0; rows]
        } else {
            py_try!(py, crate::gaps::fill_non_finite_rows(&mut out, cols))
        };
        let counts: Vec<u64> = counts.into_iter().map(|c| c as u64).collect();
        Ok((
            out.into_pyarray(py).reshape([rows, cols])?,
            counts.into_pyarray(py),
        ))
    })
}

/// Test hook: panic on purpose, in the calling thread (`"here"`) or in a rayon worker with the
/// GIL released (`"threads"`), so the tests prove a panic arrives as `calab.InternalError`.
#[pyfunction]
fn _test_panic(py: Python<'_>, place: &str) -> PyResult<()> {
    guard(py, || {
        if place == "threads" {
            use rayon::prelude::*;
            py.allow_threads(|| {
                (0..64).into_par_iter().for_each(|i| {
                    if i == 37 {
                        panic!("deliberate panic in a worker thread (test hook)");
                    }
                })
            });
        } else {
            panic!("deliberate panic (test hook)");
        }
        Ok(())
    })
}

#[pymodule]
fn _solver(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ERROR_CODES", ERROR_CODES.to_vec())?;
    m.add("PRESET_NAMES", simulate::PRESET_NAMES.to_vec())?;
    m.add("KERNEL_TAIL_TOL", kernel::KERNEL_TAIL_TOL)?;
    m.add_function(wrap_pyfunction!(_test_panic, m)?)?;
    m.add_function(wrap_pyfunction!(fill_non_finite, m)?)?;
    m.add_function(wrap_pyfunction!(build_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(compute_lipschitz, m)?)?;
    m.add_function(wrap_pyfunction!(tau_to_ar2, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_shape, m)?)?;
    m.add_function(wrap_pyfunction!(bandpass_filter, m)?)?;
    m.add_function(wrap_pyfunction!(filter_cutoffs, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_drift, m)?)?;
    m.add_function(wrap_pyfunction!(frame_centre_shift, m)?)?;
    m.add_function(wrap_pyfunction!(rolling_quantile_batch, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_noise_batch, m)?)?;
    m.add_function(wrap_pyfunction!(deconvolve_batch, m)?)?;
    m.add_function(wrap_pyfunction!(simulate_json, m)?)?;
    m.add_function(wrap_pyfunction!(preset_json, m)?)?;
    m.add_function(wrap_pyfunction!(default_config_json, m)?)?;
    m.add_function(wrap_pyfunction!(l0_gamma_from_tau, m)?)?;
    m.add_function(wrap_pyfunction!(l0_batch, m)?)?;
    m.add_function(wrap_pyfunction!(l0_lambda_for_rate, m)?)?;
    m.add_function(wrap_pyfunction!(convar_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(convar_batch, m)?)?;
    m.add_function(wrap_pyfunction!(convar_lambda_search, m)?)?;
    register_indeca_run(m)?;
    register_indeca_stages(m)?;
    Ok(())
}

// --- L0 ---

type L0Out<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u64>>,
    RowErrors,
);

/// gamma = exp(-1 / (tau_decay fs)).
#[pyfunction]
fn l0_gamma_from_tau(py: Python<'_>, tau_decay: f64, fs: f64) -> PyResult<f64> {
    guard(py, || {
        Ok(py_try!(py, crate::l0::gamma_from_tau(tau_decay, fs)))
    })
}

/// Exact L0 solve of every row of a C-contiguous (cells, T) float64 matrix, GIL released.
/// Returns (spikes, calcium, cost, num_spikes, per-row errors as (row, code, message)).
#[pyfunction]
fn l0_batch<'py>(
    py: Python<'py>,
    traces: PyReadonlyArray2<'_, f64>,
    gamma: f64,
    lam: f64,
    positive: bool,
) -> PyResult<L0Out<'py>> {
    guard(py, || {
        let (rows, cols, data) = matrix(py, &traces, "float64")?;
        let n = py_try!(py, alloc::checked_len(rows, cols, "the traces"));
        let mut spikes = py_try!(py, alloc::try_zeros(n, "the spikes"));
        let mut calcium = py_try!(py, alloc::try_zeros(n, "the calcium"));
        py_try!(py, probe_rows(rows, cols, 2, 16, "the L0 solve"));
        let results = if rows == 0 {
            py_try!(py, crate::l0::solve_l0(&[0.0], gamma, lam, positive));
            Vec::new()
        } else {
            py_try!(
                py,
                interruptible(py, rows, None, || crate::l0::solve_l0_rows(
                    data, cols, gamma, lam, positive
                ))?
            )
        };
        let mut cost = vec![f64::NAN; rows];
        let mut count = vec![0u64; rows];
        let errors = collect_rows(results, |i, o| {
            row_mut(&mut spikes, i, cols).copy_from_slice(&o.spikes);
            row_mut(&mut calcium, i, cols).copy_from_slice(&o.calcium);
            cost[i] = o.cost;
            count[i] = o.spike_times.len() as u64;
        });
        Ok((
            spikes.into_pyarray(py).reshape([rows, cols])?,
            calcium.into_pyarray(py).reshape([rows, cols])?,
            cost.into_pyarray(py),
            count.into_pyarray(py),
            errors,
        ))
    })
}

/// (lambda, achieved rate in Hz, number of spikes, solves performed), GIL released.
#[pyfunction]
fn l0_lambda_for_rate(
    py: Python<'_>,
    trace: PyReadonlyArray1<'_, f64>,
    gamma: f64,
    fs: f64,
    target_rate_hz: f64,
    positive: bool,
) -> PyResult<(f64, f64, usize, u32)> {
    guard(py, || {
        let y = slice(py, &trace)?;
        let fit = py_try!(
            py,
            py.allow_threads(|| crate::l0::lambda_for_rate(y, gamma, fs, target_rate_hz, positive))
        );
        Ok((fit.lambda, fit.rate_hz, fit.num_spikes, fit.iterations))
    })
}

// --- Convar ---

/// Defaults of the Convar core, so the Python signatures cannot drift from them.
#[pyfunction]
fn convar_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    guard(py, || {
        use crate::convar as cv;
        let d = PyDict::new(py);
        d.set_item("max_iters", cv::DEFAULT_MAX_ITERS)?;
        d.set_item("tol", cv::DEFAULT_TOL)?;
        d.set_item("smooth_window", cv::DEFAULT_SMOOTH_WINDOW)?;
        d.set_item("lambda_grid", cv::default_lambda_grid())?;
        d.set_item("min_len", cv::MIN_LEN)?;
        d.set_item("min_search_len", cv::MIN_SEARCH_LEN)?;
        Ok(d)
    })
}

#[allow(clippy::too_many_arguments)]
fn convar_config(
    py: Python<'_>,
    gamma: f64,
    lam: f64,
    max_iters: u32,
    tol: f64,
    init: &str,
    smooth_window: usize,
    early_stop: bool,
    method: &str,
) -> PyResult<crate::convar::ConvarConfig> {
    let mut cfg = crate::convar::ConvarConfig::new(gamma, lam);
    cfg.method = py_try!(py, crate::convar::ConvarMethod::parse(method));
    cfg.max_iters = max_iters;
    cfg.tol = tol;
    cfg.init = py_try!(py, crate::convar::ConvarInit::parse(init));
    cfg.smooth_window = smooth_window;
    cfg.early_stop = early_stop;
    Ok(cfg)
}

type ConvarOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<f64>>,
    RowErrors,
);

/// Convar on every row of a C-contiguous (pixels, T) float64 matrix, GIL released. `lam=None`
/// runs the odd/even lambda search per row over `grid`; `chunk_size=None` solves whole rows.
/// Returns (rates, calcium, baseline, lambda, iterations, converged, objective, per-row errors).
#[pyfunction]
#[pyo3(signature = (traces, gamma, lam, grid, search, max_iters, tol, init, smooth_window, early_stop, chunk_size, overlap, blend, method, progress=None))]
#[allow(clippy::too_many_arguments)]
fn convar_batch<'py>(
    py: Python<'py>,
    traces: PyReadonlyArray2<'_, f64>,
    gamma: f64,
    lam: Option<f64>,
    grid: Vec<f64>,
    search: &str,
    max_iters: u32,
    tol: f64,
    init: &str,
    smooth_window: usize,
    early_stop: bool,
    chunk_size: Option<usize>,
    overlap: Option<usize>,
    blend: Option<usize>,
    method: &str,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<ConvarOut<'py>> {
    guard(py, || {
        use crate::convar as cv;
        let cfg = convar_config(
            py,
            gamma,
            lam.unwrap_or(0.0),
            max_iters,
            tol,
            init,
            smooth_window,
            early_stop,
            method,
        )?;
        let mut run = cv::ConvarRun::new(cfg);
        if lam.is_none() {
            run.search = Some(cv::LambdaSearchConfig {
                grid,
                method: py_try!(py, cv::SearchMethod::parse(search)),
                warm_start: false,
            });
        }
        if let Some(size) = chunk_size {
            let mut c = cv::ChunkConfig::new(size, gamma);
            if let Some(o) = overlap {
                c.overlap = o;
                c.blend = (o / 2).min(size);
            }
            if let Some(b) = blend {
                c.blend = b;
            }
            run.chunk = Some(c);
        }
        py_try!(py, run.validate());
        let (rows, cols, data) = matrix(py, &traces, "float64")?;
        let n = py_try!(py, alloc::checked_len(rows, cols, "the traces"));
        let mut rates = py_try!(py, alloc::try_zeros(n, "the rates"));
        let mut calcium = py_try!(py, alloc::try_zeros(n, "the calcium"));
        py_try!(py, probe_rows(rows, cols, 2, 24, "the Convar solve"));
        let results = if rows == 0 {
            Vec::new()
        } else {
            py_try!(
                py,
                interruptible(py, rows, progress.as_ref(), || cv::convar_run_rows(
                    data, cols, &run
                ))?
            )
        };
        let mut base = vec![f64::NAN; rows];
        let mut lams = vec![f64::NAN; rows];
        let mut iters = vec![0u32; rows];
        let mut conv = vec![false; rows];
        let mut obj = vec![f64::NAN; rows];
        let errors = collect_rows(results, |i, o| {
            row_mut(&mut rates, i, cols).copy_from_slice(&o.rates);
            row_mut(&mut calcium, i, cols).copy_from_slice(&o.calcium);
            base[i] = o.baseline;
            lams[i] = o.lambda;
            iters[i] = o.iterations;
            conv[i] = o.converged;
            obj[i] = o.objective;
        });
        Ok((
            rates.into_pyarray(py).reshape([rows, cols])?,
            calcium.into_pyarray(py).reshape([rows, cols])?,
            base.into_pyarray(py),
            lams.into_pyarray(py),
            iters.into_pyarray(py),
            conv.into_pyarray(py),
            obj.into_pyarray(py),
            errors,
        ))
    })
}

type SearchOut = (f64, f64, Vec<(f64, f64)>, u64);

/// Odd/even lambda search on one trace, GIL released. Returns (lambda, score,
/// [(lambda, score) evaluated in order], total iterations).
#[pyfunction]
#[pyo3(signature = (trace, gamma, grid, search, max_iters, tol, init, smooth_window, early_stop, method))]
#[allow(clippy::too_many_arguments)]
fn convar_lambda_search(
    py: Python<'_>,
    trace: PyReadonlyArray1<'_, f64>,
    gamma: f64,
    grid: Vec<f64>,
    search: &str,
    max_iters: u32,
    tol: f64,
    init: &str,
    smooth_window: usize,
    early_stop: bool,
    method: &str,
) -> PyResult<SearchOut> {
    guard(py, || {
        use crate::convar as cv;
        let cfg = convar_config(
            py,
            gamma,
            0.0,
            max_iters,
            tol,
            init,
            smooth_window,
            early_stop,
            method,
        )?;
        let sc = cv::LambdaSearchConfig {
            grid,
            method: py_try!(py, cv::SearchMethod::parse(search)),
            warm_start: false,
        };
        let y = slice(py, &trace)?;
        let res = py_try!(
            py,
            interruptible(py, 1, None, || crate::cancel::row(
                &crate::cancel::current(),
                || cv::lambda_search(y, &cfg, &sc)
            ))?
        );
        Ok((res.lambda, res.score, res.evaluated, res.iterations))
    })
}

// --- InDeCa outer loop ---

/// One InDeCa run (see `crate::indeca::run`). `step` and `final_pass` release the GIL and use
/// every core; results do not depend on the thread count.
#[pyclass(name = "IndecaRun", module = "calab._solver")]
struct PyIndecaRun {
    inner: crate::indeca::run::IndecaRun,
}

#[pymethods]
impl PyIndecaRun {
    /// traces: C-contiguous (cells, T) float32; config_json: a (possibly partial) IndecaConfig.
    #[new]
    fn new(
        py: Python<'_>,
        traces: PyReadonlyArray2<'_, f32>,
        fs: f64,
        config_json: &str,
    ) -> PyResult<Self> {
        guard(py, || {
            let (rows, cols, data) = matrix(py, &traces, "float32")?;
            // The run keeps the traces, counts and activity (f32) per sample.
            let n = py_try!(py, alloc::checked_len(rows, cols, "the traces"));
            py_try!(py, alloc::probe(16 * n as u128, "the InDeCa run"));
            let inner = py_try!(
                py,
                py.allow_threads(|| crate::indeca::run::IndecaRun::from_json(
                    data,
                    rows,
                    cols,
                    fs,
                    config_json
                ))
            );
            // Each thread solves one trace at a time on the upsampled grid.
            let grid = py_try!(
                py,
                alloc::checked_len(cols, inner.upsample_factor(), "the upsampled trace")
            );
            py_try!(py, probe_rows(rows, grid, 0, 48, "the InDeCa trace solves"));
            Ok(PyIndecaRun { inner })
        })
    }

    /// One outer iteration; returns the IterationReport JSON.
    fn step(&mut self, py: Python<'_>) -> PyResult<String> {
        guard(py, || {
            let inner = &mut self.inner;
            let report = py_try!(py, py.allow_threads(|| inner.step()));
            Ok(py_try!(
                py,
                serde_json::to_string(&report)
                    .map_err(|e| SolverError::InvalidState(format!("iteration report: {e}")))
            ))
        })
    }

    fn is_converged(&self) -> bool {
        self.inner.is_converged()
    }

    /// Converged or at max_iterations.
    fn is_done(&self) -> bool {
        self.inner.is_done()
    }

    fn iteration(&self) -> usize {
        self.inner.iteration()
    }

    fn final_pass(&mut self, py: Python<'_>, cell_start: usize, cell_end: usize) -> PyResult<()> {
        guard(py, || {
            let inner = &mut self.inner;
            py_try!(
                py,
                py.allow_threads(|| inner.final_pass(cell_start, cell_end))
            );
            Ok(())
        })
    }

    fn result_json(&self, py: Python<'_>) -> PyResult<String> {
        guard(py, || Ok(py_try!(py, self.inner.result().to_json())))
    }

    /// Final-pass spike counts (cells, T), float32.
    fn activity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        guard(py, || {
            let (n, t) = (self.inner.num_cells(), self.inner.num_timepoints());
            self.inner
                .activity()
                .to_vec()
                .into_pyarray(py)
                .reshape([n, t])
        })
    }

    fn cell_trace<'py>(&self, py: Python<'py>, cell: usize) -> PyResult<Bound<'py, PyArray1<f32>>> {
        guard(py, || {
            Ok(py_try!(py, self.inner.cell_trace(cell)).into_pyarray(py))
        })
    }

    fn cell_fit<'py>(&self, py: Python<'py>, cell: usize) -> PyResult<Bound<'py, PyArray1<f32>>> {
        guard(py, || {
            let inner = &self.inner;
            Ok(py_try!(py, py.allow_threads(|| inner.cell_fit(cell))).into_pyarray(py))
        })
    }
}

/// Kinetics learned from a C-contiguous (cells, T) float64 recording ([`crate::auto`]), as the
/// JSON of `KineticsEstimate`; GIL released.
#[pyfunction]
fn estimate_kinetics_json(
    py: Python<'_>,
    traces: PyReadonlyArray2<'_, f64>,
    fs: f64,
    config_json: &str,
) -> PyResult<String> {
    let (rows, cols, data) = matrix(py, &traces, "float64")?;
    let cfg = py_try!(
        py,
        crate::indeca::config::IndecaConfig::from_json(config_json)
    );
    let est = py_try!(
        py,
        py.allow_threads(|| crate::auto::estimate_kinetics(data, rows, cols, fs, &cfg))
    );
    serde_json::to_string(&est).map_err(|e| to_py(py, SolverError::InvalidState(e.to_string())))
}

/// The default IndecaConfig as JSON (the defaults of `calab.DeconConfig`).
#[pyfunction]
fn indeca_default_config_json(py: Python<'_>) -> PyResult<String> {
    guard(py, || {
        Ok(py_try!(
            py,
            crate::indeca::config::IndecaConfig::default().to_json()
        ))
    })
}

/// Register the InDeCa outer-loop names on the module.
fn register_indeca_run(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyIndecaRun>()?;
    m.add_function(wrap_pyfunction!(indeca_default_config_json, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_kinetics_json, m)?)?;
    Ok(())
}

// --- InDeCa per-trace and kernel stages (crate::indeca::{trace, kernel_est, biexp, seed}) ---

fn slice32<'a>(py: Python<'_>, a: &'a PyReadonlyArray1<'_, f32>) -> PyResult<&'a [f32]> {
    a.as_slice().map_err(|_| {
        to_py(
            py,
            SolverError::ShapeMismatch("expected a contiguous 1-D float32 array".into()),
        )
    })
}

#[pyfunction]
fn indeca_compute_upsample_factor(py: Python<'_>, fs: f64, target_fs: f64) -> PyResult<usize> {
    guard(py, || {
        Ok(py_try!(
            py,
            crate::indeca::upsample::compute_upsample_factor(fs, target_fs)
        ))
    })
}

type SolveTraceOut<'py> = (Bound<'py, PyArray1<f32>>, f64, f64, f64, f64, usize, bool);

/// (s_counts, alpha, baseline, pve, threshold, iterations, converged), GIL released.
/// `noise_constrained` picks the noise-floor threshold rule instead of the default penalised one.
#[pyfunction]
#[pyo3(signature = (trace, tau_rise, tau_decay, fs, upsample_factor, max_iters, tol, hp_enabled, lp_enabled, lambda_, warm_counts=None, noise_constrained=false))]
#[allow(clippy::too_many_arguments)]
fn indeca_solve_trace<'py>(
    py: Python<'py>,
    trace: PyReadonlyArray1<'_, f32>,
    tau_rise: f64,
    tau_decay: f64,
    fs: f64,
    upsample_factor: usize,
    max_iters: usize,
    tol: f64,
    hp_enabled: bool,
    lp_enabled: bool,
    lambda_: f64,
    warm_counts: Option<PyReadonlyArray1<'_, f32>>,
    noise_constrained: bool,
) -> PyResult<SolveTraceOut<'py>> {
    guard(py, || {
        use crate::indeca::trace::{solve_trace, solve_trace_detailed, ThresholdMode};
        let y = slice32(py, &trace)?;
        let warm = match &warm_counts {
            Some(w) => Some(slice32(py, w)?),
            None => None,
        };
        let p = crate::indeca::trace::TraceParams {
            tau_rise,
            tau_decay,
            fs,
            upsample_factor,
            max_iters,
            tol,
            hp_enabled,
            lp_enabled,
            lambda: lambda_,
        };
        let sol = py_try!(
            py,
            py.allow_threads(|| {
                if !noise_constrained {
                    return solve_trace(y, &p, warm);
                }
                // solve_trace is the f32 front of solve_trace_detailed with the default rule.
                let y64: Vec<f64> = y.iter().map(|v| *v as f64).collect();
                let w64: Option<Vec<f64>> = warm.map(|w| w.iter().map(|v| *v as f64).collect());
                solve_trace_detailed(&y64, &p, w64.as_deref(), ThresholdMode::NoiseFloor)
                    .map(|d| d.solution)
            })
        );
        Ok((
            sol.s_counts.into_pyarray(py),
            sol.alpha,
            sol.baseline,
            sol.pve,
            sol.threshold,
            sol.iterations,
            sol.converged,
        ))
    })
}

/// Free-form kernel (float32), GIL released.
#[pyfunction]
#[pyo3(signature = (traces_flat, spikes_flat, trace_lengths, alphas, baselines, kernel_length, max_iters, tol, smooth_lambda, warm_kernel=None))]
#[allow(clippy::too_many_arguments)]
fn indeca_estimate_kernel<'py>(
    py: Python<'py>,
    traces_flat: PyReadonlyArray1<'_, f32>,
    spikes_flat: PyReadonlyArray1<'_, f32>,
    trace_lengths: Vec<usize>,
    alphas: PyReadonlyArray1<'_, f64>,
    baselines: PyReadonlyArray1<'_, f64>,
    kernel_length: usize,
    max_iters: usize,
    tol: f64,
    smooth_lambda: f64,
    warm_kernel: Option<PyReadonlyArray1<'_, f32>>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    guard(py, || {
        let (y, s) = (slice32(py, &traces_flat)?, slice32(py, &spikes_flat)?);
        let (a, b) = (slice(py, &alphas)?, slice(py, &baselines)?);
        let warm = match &warm_kernel {
            Some(w) => Some(slice32(py, w)?),
            None => None,
        };
        let h = py_try!(
            py,
            py.allow_threads(|| crate::indeca::kernel_est::estimate_kernel(
                y,
                s,
                &trace_lengths,
                a,
                b,
                kernel_length,
                max_iters,
                tol,
                warm,
                smooth_lambda
            ))
        );
        Ok(h.into_pyarray(py))
    })
}

/// BiexpFit as JSON (the Python wrapper builds the NamedTuple), GIL released. `warm_json` is a
/// previous fit's JSON or None.
#[pyfunction]
#[pyo3(signature = (h_free, fs, refine, skip, warm_json=None))]
fn indeca_fit_biexponential(
    py: Python<'_>,
    h_free: PyReadonlyArray1<'_, f32>,
    fs: f64,
    refine: bool,
    skip: usize,
    warm_json: Option<&str>,
) -> PyResult<String> {
    guard(py, || {
        let h = slice32(py, &h_free)?;
        let warm: Option<crate::indeca::biexp::BiexpFit> = match warm_json {
            Some(j) => Some(py_try!(
                py,
                serde_json::from_str(j)
                    .map_err(|e| SolverError::InvalidState(format!("warm fit: {e}")))
            )),
            None => None,
        };
        let fit = py_try!(
            py,
            py.allow_threads(|| crate::indeca::biexp::fit_biexponential(
                h,
                fs,
                refine,
                skip,
                warm.as_ref()
            ))
        );
        serde_json::to_string(&fit).map_err(|e| to_py(py, SolverError::InvalidState(e.to_string())))
    })
}

/// (tau_rise, tau_decay, n_events) from the large transients of the concatenated traces.
#[pyfunction]
fn indeca_seed_kernel_from_peaks(
    py: Python<'_>,
    traces_flat: PyReadonlyArray1<'_, f32>,
    trace_lengths: Vec<usize>,
    fs: f64,
) -> PyResult<(f64, f64, usize)> {
    guard(py, || {
        let y = slice32(py, &traces_flat)?;
        let s = py_try!(
            py,
            py.allow_threads(|| crate::indeca::seed::seed_kernel_from_peaks(y, &trace_lengths, fs))
        );
        Ok((s.tau_rise, s.tau_decay, s.n_events))
    })
}

fn register_indeca_stages(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(indeca_compute_upsample_factor, m)?)?;
    m.add_function(wrap_pyfunction!(indeca_solve_trace, m)?)?;
    m.add_function(wrap_pyfunction!(indeca_estimate_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(indeca_fit_biexponential, m)?)?;
    m.add_function(wrap_pyfunction!(indeca_seed_kernel_from_peaks, m)?)?;
    Ok(())
}
