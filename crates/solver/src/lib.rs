//! CaLab solver core: everything numerical, free of binding code.
//!
//! Module map: [`kernel`] (double-exponential kernel, AR(2) form, Lipschitz constant),
//! [`fft`] and [`banded`] (the two forward/adjoint convolution operators, unified in
//! [`operator`]), [`fista`] (the iterative solver with restart and warm start), [`exact`] (an
//! interior-point solver for the same non-negative problem in O(T) per iteration), [`filter`]
//! (kernel-derived bandpass), [`baseline`] (slow-drift removal), [`preprocess`] (their order),
//! [`solver`] (the stateful solver the browser drives), [`deconvolve`] (one-shot and batch
//! entry points), [`simulate`] (synthetic recordings with ground truth).
//! [`noise`] (noise level from the upper half of the spectrum), [`auto`] (parameters chosen from
//! the data: sparsity from the noise).
//! [`l0`] (exact L0 spike inference for an AR(1) model by functional-pruning dynamic programming).
//! [`convar`] (Convar population spiking-rate inference for wide-field imaging: O(T) FISTA,
//! odd/even lambda search, chunking).
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
