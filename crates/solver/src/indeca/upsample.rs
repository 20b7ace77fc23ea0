//! Rate conversion between the recording rate fs and the model rate k·fs.
//!
//! InDeCa models calcium on a grid k times finer than the frames and *observes every k-th fine
//! sample* (fine index k·j is frame j). We do not interpolate the trace: interpolation invents
//! samples whose noise is correlated with their neighbours, which the least-squares fit would then
//! over-trust. With observation, the fine grid only adds freedom where the data can support it
//! (sub-frame spike timing, up to k spikes per frame under the [0, 1] box).
//!
//! Inside the model a fine bin m belongs to frame floor(m / k) (spikes with j/fs <= t < (j+1)/fs),
//! so summing the k fine bins of a frame gives its count; warm starts use that mapping both ways.
//! What is reported to users ([`counts_on_frames`]) bins by the nearest frame time stamp instead.

use crate::error::{Result, SolverError};

/// Largest upsampling factor accepted (beyond it the fine grid is mostly unobserved).
pub const MAX_UPSAMPLE_FACTOR: usize = 256;

/// max(1, round(target_fs / fs)).
pub fn compute_upsample_factor(fs: f64, target_fs: f64) -> Result<usize> {
    crate::kernel::positive_finite("fs", fs, "the sampling rate in Hz")?;
    crate::kernel::positive_finite("target_fs", target_fs, "the target model rate in Hz")?;
    let k = (target_fs / fs).round().max(1.0);
    if k > MAX_UPSAMPLE_FACTOR as f64 {
        return Err(SolverError::param(
            "target_fs",
            target_fs,
            format!("is more than {MAX_UPSAMPLE_FACTOR} times fs = {fs} Hz"),
        ));
    }
    Ok(k as usize)
}

pub(crate) fn check_factor(k: usize) -> Result<()> {
    if k == 0 || k > MAX_UPSAMPLE_FACTOR {
        return Err(SolverError::param(
            "upsample_factor",
            k as f64,
            format!("must be an integer in [1, {MAX_UPSAMPLE_FACTOR}]"),
        ));
    }
    Ok(())
}

/// Sum each frame's k fine bins: fine (length k·T) to counts at the original rate (length T).
pub fn downsample_counts(fine: &[f64], k: usize) -> Result<Vec<f64>> {
    check_factor(k)?;
    if !fine.len().is_multiple_of(k) {
        return Err(SolverError::ShapeMismatch(format!(
            "fine spike train of length {} is not a multiple of upsample_factor {k}",
            fine.len()
        )));
    }
    Ok(fine.chunks_exact(k).map(|c| c.iter().sum()).collect())
}

/// Counts per frame as reported to users: each fine bin's count goes whole to the frame whose time
/// stamp is nearest to where the bin's spikes happened, floor((m + shift) / k + 1/2) for fine bin m,
/// `shift` being the fine kernel's [`crate::kernel::frame_centre_shift`] (the model puts a fine
/// bin's spike at its start; with a rise within one fine bin the spike is on average `shift` bins
/// later). The last half frame goes to the last frame, so totals are kept. With k = 1 and a slow
/// rise this is `downsample_counts`; it is the binning of electrophysiological ground truth and of
/// the L1 solver's reported activity.
pub fn counts_on_frames(fine: &[f64], k: usize, shift: f64) -> Result<Vec<f64>> {
    check_factor(k)?;
    if !fine.len().is_multiple_of(k) {
        return Err(SolverError::ShapeMismatch(format!(
            "fine spike train of length {} is not a multiple of upsample_factor {k}",
            fine.len()
        )));
    }
    let frames = fine.len() / k;
    let mut out = vec![0.0; frames];
    let kf = k as f64;
    for (m, &c) in fine.iter().enumerate() {
        if c != 0.0 {
            let j = ((m as f64 + shift) / kf + 0.5).floor() as usize;
            out[j.min(frames - 1)] += c;
        }
    }
    Ok(out)
}

/// Spread counts at the original rate onto the fine grid: a frame holding c spikes gets
/// min(c, k) unit spikes on evenly spaced fine bins plus any remainder added to its first bin.
/// `downsample_counts(upsample_counts(c, k), k) == c` exactly for counts that are integers.
pub fn upsample_counts(counts: &[f64], k: usize) -> Result<Vec<f64>> {
    check_factor(k)?;
    crate::error::check_finite(counts)?;
    let mut fine = vec![0.0; counts.len() * k];
    for (j, &c) in counts.iter().enumerate() {
        let c = c.max(0.0);
        if c == 0.0 {
            continue;
        }
        let frame = &mut fine[j * k..(j + 1) * k];
        let whole = (c.floor() as usize).min(k);
        if whole == 0 {
            frame[k / 2] = c;
            continue;
        }
        for i in 0..whole {
            // Centred positions (i + 1/2) k / whole keep multi-spike frames spread out.
            let pos = ((2 * i + 1) * k) / (2 * whole);
            frame[pos.min(k - 1)] += 1.0;
        }
        frame[0] += c - whole as f64;
    }
    Ok(fine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_rounds_and_validates() {
        assert_eq!(compute_upsample_factor(30.0, 30.0).unwrap(), 1);
        assert_eq!(compute_upsample_factor(30.0, 10.0).unwrap(), 1);
        assert_eq!(compute_upsample_factor(30.0, 100.0).unwrap(), 3);
        assert_eq!(compute_upsample_factor(30.0, 105.0).unwrap(), 4);
        assert!(compute_upsample_factor(0.0, 100.0).is_err());
        assert!(compute_upsample_factor(30.0, f64::NAN).is_err());
        assert!(compute_upsample_factor(30.0, -1.0).is_err());
        assert!(compute_upsample_factor(1e-3, 1e6).is_err());
    }

    #[test]
    fn up_then_down_is_identity() {
        let counts = [0.0, 1.0, 2.0, 0.0, 5.0, 3.0, 1.0];
        for k in [1usize, 2, 3, 4, 7] {
            let fine = upsample_counts(&counts, k).unwrap();
            assert_eq!(fine.len(), counts.len() * k);
            assert_eq!(downsample_counts(&fine, k).unwrap(), counts.to_vec());
        }
        assert!(downsample_counts(&[1.0, 2.0, 3.0], 2).is_err());
    }

    #[test]
    fn reported_counts_go_to_the_nearest_frame() {
        // k = 4: fine bins 2..=5 are nearest frame 1 (its time stamp is fine bin 4).
        let fine = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0];
        assert_eq!(
            counts_on_frames(&fine, 4, 0.0).unwrap(),
            vec![1.0, 2.0, 2.0]
        );
        // k = 1: a rise within the frame (shift 1/2) reads each bin as the next frame's.
        assert_eq!(
            counts_on_frames(&[3.0, 0.0, 1.0], 1, 0.5).unwrap(),
            vec![0.0, 3.0, 1.0]
        );
        assert_eq!(
            counts_on_frames(&[3.0, 0.0, 1.0], 1, 0.2).unwrap(),
            vec![3.0, 0.0, 1.0]
        );
        assert!(upsample_counts(&[1.0], 0).is_err());
    }
}
