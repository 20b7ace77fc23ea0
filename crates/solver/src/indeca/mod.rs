//! InDeCa: interleaved deconvolution and kernel estimation.
//!
//! Per-trace and kernel stages: [`upsample`] (upsampling factor and rate conversion of spike
//! counts), [`trace`] (box-constrained AR(2) deconvolution with amplitude estimation and threshold
//! search), [`kernel_est`] (free-form non-negative kernel from traces and spike trains),
//! [`biexp`] (bi-exponential fit of a free-form kernel), [`seed`] (peak-based first kernel guess).
//! The outer loop lives in `run` with its configuration in `config`; `work` carries its solves
//! to replicas of a run (browser workers) and back.

pub mod biexp;
pub mod config;
pub mod kernel_est;
mod relax;
pub mod run;
pub mod seed;
pub mod trace;
pub mod upsample;
pub mod work;
