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
use crate::{baseline, filter, simulate};
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

#[pyfunction]
fn build_kernel<'py>(
    py: Python<'py>,
    tau_rise: f64,
    tau_decay: f64,
    fs: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    Ok(py_try!(py, kernel::build_kernel(tau_rise, tau_decay, fs)).into_pyarray(py))
}

#[pyfunction]
fn compute_lipschitz(py: Python<'_>, kernel: PyReadonlyArray1<'_, f64>) -> PyResult<f64> {
    let k = slice(py, &kernel)?;
    Ok(py_try!(py, kernel::compute_lipschitz(k)))
}

/// (g1, g2, d, r, gain, dc_gain)
#[pyfunction]
fn tau_to_ar2(
    py: Python<'_>,
    tau_rise: f64,
    tau_decay: f64,
    fs: f64,
) -> PyResult<(f64, f64, f64, f64, f64, f64)> {
    let a = py_try!(py, kernel::tau_to_ar2(tau_rise, tau_decay, fs));
    Ok((a.g1, a.g2, a.d, a.r, a.gain, a.dc_gain))
}

/// (peak_time_s, fwhm_s)
#[pyfunction]
fn kernel_shape(py: Python<'_>, tau_rise: f64, tau_decay: f64, fs: f64) -> PyResult<(f64, f64)> {
    let p = py_try!(py, KernelParams::new(tau_rise, tau_decay, fs));
    Ok((p.peak_time(), p.fwhm()))
}

#[pyfunction]
fn bandpass_filter<'py>(
    py: Python<'py>,
    trace: PyReadonlyArray1<'_, f64>,
    tau_rise: f64,
    tau_decay: f64,
    fs: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let p = py_try!(py, KernelParams::new(tau_rise, tau_decay, fs));
    let y = slice(py, &trace)?;
    Ok(py_try!(py, filter::bandpass_filter(y, &p)).into_pyarray(py))
}

#[pyfunction]
fn filter_cutoffs(py: Python<'_>, tau_rise: f64, tau_decay: f64, fs: f64) -> PyResult<(f64, f64)> {
    let p = py_try!(py, KernelParams::new(tau_rise, tau_decay, fs));
    Ok(filter::filter_cutoffs(&p))
}

#[pyfunction]
fn estimate_drift<'py>(
    py: Python<'py>,
    trace: PyReadonlyArray1<'_, f64>,
    tau_decay: f64,
    fs: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    kernel::KernelParams::new(tau_decay * 0.5, tau_decay, fs).map_err(|e| to_py(py, e))?;
    let y = slice(py, &trace)?;
    Ok(py_try!(py, baseline::estimate_drift(y, tau_decay, fs)).into_pyarray(py))
}

type BatchOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<bool>>,
    Vec<Option<(usize, String, String)>>,
);

/// Deconvolve every row of a C-contiguous (cells, T) float64 matrix. Per-row failures come back
/// as (row, code, message) so the caller can name the row.
#[pyfunction]
#[pyo3(signature = (traces, tau_rise, tau_decay, lam, fs, max_iters, conv_mode, constraint, method, bandpass, remove_drift))]
#[allow(clippy::too_many_arguments)]
fn deconvolve_batch<'py>(
    py: Python<'py>,
    traces: PyReadonlyArray2<'_, f64>,
    tau_rise: f64,
    tau_decay: f64,
    lam: f64,
    fs: f64,
    max_iters: u32,
    conv_mode: &str,
    constraint: &str,
    method: &str,
    bandpass: bool,
    remove_drift: bool,
) -> PyResult<BatchOut<'py>> {
    let mut opts = DeconvOptions::new(tau_rise, tau_decay, lam, fs);
    opts.max_iters = max_iters;
    opts.conv_mode = py_try!(py, ConvMode::parse(conv_mode));
    opts.constraint = py_try!(py, Constraint::parse(constraint));
    opts.method = py_try!(py, Method::parse(method));
    opts.bandpass = bandpass;
    opts.remove_drift = remove_drift;
    let shape = traces.shape();
    let (rows, cols) = (shape[0], shape[1]);
    let data = traces.as_slice().map_err(|_| {
        to_py(
            py,
            SolverError::ShapeMismatch("expected a C-contiguous 2-D float64 array".into()),
        )
    })?;
    py_try!(py, opts.validate());
    let results = if rows == 0 {
        Vec::new()
    } else {
        py_try!(py, py.allow_threads(|| deconvolve_rows(data, cols, &opts)))
    };
    let mut activity = vec![0.0; rows * cols];
    let mut reconv = vec![0.0; rows * cols];
    let mut base = vec![f64::NAN; rows];
    let mut iters = vec![0u32; rows];
    let mut conv = vec![false; rows];
    let mut errors = Vec::with_capacity(rows);
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(o) => {
                activity[i * cols..(i + 1) * cols].copy_from_slice(&o.activity);
                reconv[i * cols..(i + 1) * cols].copy_from_slice(&o.reconvolution);
                base[i] = o.baseline;
                iters[i] = o.iterations;
                conv[i] = o.converged;
                errors.push(None);
            }
            Err(e) => errors.push(Some((i, e.code().to_string(), e.to_string()))),
        }
    }
    let to2 = |v: Vec<f64>| -> PyResult<Bound<'py, PyArray2<f64>>> {
        v.into_pyarray(py).reshape([rows, cols])
    };
    Ok((
        to2(activity)?,
        base.into_pyarray(py),
        to2(reconv)?,
        iters.into_pyarray(py),
        conv.into_pyarray(py),
        errors,
    ))
}

type SimOut<'py> = (Bound<'py, PyArray2<f64>>, Vec<Bound<'py, PyDict>>, String);

/// Run the simulator on a JSON config; returns (traces (cells, T), ground truth as one dict
/// per cell, the effective config as JSON).
#[pyfunction]
fn simulate_json<'py>(py: Python<'py>, config_json: &str) -> PyResult<SimOut<'py>> {
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
}

/// The default simulator config as JSON.
#[pyfunction]
fn default_config_json(py: Python<'_>) -> PyResult<String> {
    Ok(py_try!(py, simulate::SimulationConfig::default().to_json()))
}

/// Preset config as JSON.
#[pyfunction]
fn preset_json(py: Python<'_>, name: &str) -> PyResult<String> {
    let cfg = py_try!(py, simulate::preset(name));
    Ok(py_try!(py, cfg.to_json()))
}

#[pymodule]
fn _solver(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ERROR_CODES", ERROR_CODES.to_vec())?;
    m.add("PRESET_NAMES", simulate::PRESET_NAMES.to_vec())?;
    m.add("KERNEL_TAIL_TOL", kernel::KERNEL_TAIL_TOL)?;
    m.add_function(wrap_pyfunction!(build_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(compute_lipschitz, m)?)?;
    m.add_function(wrap_pyfunction!(tau_to_ar2, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_shape, m)?)?;
    m.add_function(wrap_pyfunction!(bandpass_filter, m)?)?;
    m.add_function(wrap_pyfunction!(filter_cutoffs, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_drift, m)?)?;
    m.add_function(wrap_pyfunction!(deconvolve_batch, m)?)?;
    m.add_function(wrap_pyfunction!(simulate_json, m)?)?;
    m.add_function(wrap_pyfunction!(preset_json, m)?)?;
    m.add_function(wrap_pyfunction!(default_config_json, m)?)?;
    m.add_function(wrap_pyfunction!(l0_gamma_from_tau, m)?)?;
    m.add_function(wrap_pyfunction!(l0_batch, m)?)?;
    m.add_function(wrap_pyfunction!(l0_lambda_for_rate, m)?)?;
    Ok(())
}

// --- L0 ---

type L0Out<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u64>>,
    Vec<Option<(usize, String, String)>>,
);

/// gamma = exp(-1 / (tau_decay fs)).
#[pyfunction]
fn l0_gamma_from_tau(py: Python<'_>, tau_decay: f64, fs: f64) -> PyResult<f64> {
    Ok(py_try!(py, crate::l0::gamma_from_tau(tau_decay, fs)))
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
    let shape = traces.shape();
    let (rows, cols) = (shape[0], shape[1]);
    let data = traces.as_slice().map_err(|_| {
        to_py(
            py,
            SolverError::ShapeMismatch("expected a C-contiguous 2-D float64 array".into()),
        )
    })?;
    let results = if rows == 0 {
        py_try!(py, crate::l0::solve_l0(&[0.0], gamma, lam, positive));
        Vec::new()
    } else {
        py_try!(
            py,
            py.allow_threads(|| crate::l0::solve_l0_rows(data, cols, gamma, lam, positive))
        )
    };
    let mut spikes = vec![0.0; rows * cols];
    let mut calcium = vec![0.0; rows * cols];
    let mut cost = vec![f64::NAN; rows];
    let mut count = vec![0u64; rows];
    let mut errors = Vec::with_capacity(rows);
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(o) => {
                spikes[i * cols..(i + 1) * cols].copy_from_slice(&o.spikes);
                calcium[i * cols..(i + 1) * cols].copy_from_slice(&o.calcium);
                cost[i] = o.cost;
                count[i] = o.spike_times.len() as u64;
                errors.push(None);
            }
            Err(e) => errors.push(Some((i, e.code().to_string(), e.to_string()))),
        }
    }
    Ok((
        spikes.into_pyarray(py).reshape([rows, cols])?,
        calcium.into_pyarray(py).reshape([rows, cols])?,
        cost.into_pyarray(py),
        count.into_pyarray(py),
        errors,
    ))
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
    let y = slice(py, &trace)?;
    let fit = py_try!(
        py,
        py.allow_threads(|| crate::l0::lambda_for_rate(y, gamma, fs, target_rate_hz, positive))
    );
    Ok((fit.lambda, fit.rate_hz, fit.num_spikes, fit.iterations))
}
