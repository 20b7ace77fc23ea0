//! The optional preprocessing shared by every entry point (stateful solver, one-shot, batch).
//! Order: drift removal first (it needs the slow content the bandpass would strip), then bandpass.

use crate::baseline::remove_drift;
use crate::error::Result;
use crate::filter::bandpass_filter;
use crate::kernel::KernelParams;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Preprocessing {
    /// Subtract a rolling low-quantile baseline ([`crate::baseline`]).
    pub remove_drift: bool,
    /// Apply the kernel-derived bandpass ([`crate::filter`]).
    pub bandpass: bool,
}

impl Preprocessing {
    pub fn any(&self) -> bool {
        self.remove_drift || self.bandpass
    }
}

pub fn preprocess(trace: &[f64], p: &KernelParams, pre: &Preprocessing) -> Result<Vec<f64>> {
    let mut y = if pre.remove_drift {
        remove_drift(trace, p.tau_decay, p.fs)?
    } else {
        trace.to_vec()
    };
    if pre.bandpass {
        y = bandpass_filter(&y, p)?;
    }
    Ok(y)
}
