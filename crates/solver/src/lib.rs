//! CaLab solver core: everything numerical, free of binding code.
//!
//! Module map:
//! - Kernel and operators: [`kernel`] (double-exponential kernel, AR(2) form, Lipschitz
//!   constant), [`fft`] and [`banded`] (the two forward/adjoint convolution operators, unified in
//!   [`operator`]).
//! - L1 deconvolution: [`solve`] (the pure entry point every path calls: trace, kernel and options
//!   in, fit out), [`fista`] (the iterative solver with restart and warm start), [`exact`] (an
//!   interior-point solver for the same non-negative problem in O(T) per iteration, on the engine
//!   in `ipm`), [`solver`] (the stateful solver the browser drives, over [`solve`]),
//!   [`deconvolve`] (one-shot and batch entry points with flat options).
//! - Preprocessing: [`filter`] (kernel-derived bandpass), [`baseline`] (slow-drift removal),
//!   [`preprocess`] (their order), [`gaps`] (the one rule for filling non-finite samples).
//! - Parameters from the data: [`noise`] (noise level from the upper half of the spectrum),
//!   [`auto`] (sparsity from the noise, kinetics from the recording).
//! - Other solvers: [`l0`] (exact L0 spike inference for an AR(1) model by functional-pruning
//!   dynamic programming), [`convar`] (Convar population spiking-rate inference for wide-field
//!   imaging: O(T) FISTA, odd/even lambda search, chunking), [`indeca`] (the InDeCa outer loop
//!   that learns the kernel with the spikes: per-trace solves, free-form kernel, bi-exponential
//!   fit, upsampling).
//! - Shared plumbing: [`error`] (the one error type and its stable codes, parameter checks),
//!   [`rows`] (the per-row map of every batch entry point), [`alloc`] (allocation that fails with
//!   an error instead of aborting), [`cancel`] (cancellation and progress across threads).
//! - [`simulate`]: synthetic recordings with ground truth.
//!
//! Bindings live under `bindings/` and only convert types and errors.

pub mod alloc;
pub mod auto;
pub mod banded;
pub mod baseline;
pub mod cancel;
pub mod convar;
pub mod deconvolve;
pub mod error;
pub mod exact;
pub mod fft;
pub mod filter;
pub mod fista;
pub mod gaps;
pub mod indeca;
mod ipm;
pub mod kernel;
pub mod l0;
pub mod noise;
pub mod operator;
pub mod preprocess;
pub mod rows;
pub mod simulate;
pub mod solve;
pub mod solver;

pub mod bindings;

pub use error::{Result, SolverError};
