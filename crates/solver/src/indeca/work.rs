//! Self-contained work units of an InDeCa run, so its solves can be done somewhere else: by a
//! second [`IndecaRun`](super::run::IndecaRun) built from the same traces and config (a replica
//! in another browser worker; wasm32 has no threads) and handed back to the run that owns the
//! loop. The run merges results by job index, whatever order they come back in, so a run whose
//! solves were spread over replicas is bit for bit the run `step` gives.
//!
//! The units are the two costly stages: an iteration's segment solves ([`SegmentTask`] ->
//! [`SegmentSolution`]) and the final pass's per-cell solves ([`FinalCell`]). Each travels as a
//! flat, self-delimiting list of f64 words (one `Float64Array`, transferable between workers):
//! f32 and f64 values and integers below 2^53 are all exact in an f64, so nothing is rounded on
//! the way. Decoding checks the layout and names what is wrong, as for any other input.

use super::trace::TraceSolution;
use crate::error::{Result, SolverError};

/// First word after the length: which kind of record follows.
const TAG_SEGMENT_TASK: f64 = 1.0;
const TAG_SEGMENT_SOLUTION: f64 = 2.0;
const TAG_FINAL_CELL: f64 = 3.0;

/// One segment solve of the iteration in progress: a cell's frames `[t_start, t_end)`, with the
/// kernel of that iteration and, when the loop solved these frames before, its counts there.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentTask {
    /// Index of the job in the iteration (the order results are merged in).
    pub job: usize,
    pub cell: usize,
    pub t_start: usize,
    pub t_end: usize,
    pub tau_rise: f64,
    pub tau_decay: f64,
    /// Warm start: the counts the loop holds for these frames.
    pub warm: Option<Vec<f32>>,
}

/// What the loop keeps of one segment solve (the rest of a `TraceDetail` is not needed).
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentSolution {
    pub job: usize,
    /// The kernel the segment was solved with (checked against the iteration's on merge).
    pub tau_rise: f64,
    pub tau_decay: f64,
    pub solution: TraceSolution,
    /// Binary spikes on the fine grid (length k·T).
    pub s_fine: Vec<f64>,
    /// The preprocessed segment the solve fitted (original rate).
    pub preprocessed: Vec<f64>,
}

/// One cell of the final pass, solved with the final kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalCell {
    pub cell: usize,
    pub tau_rise: f64,
    pub tau_decay: f64,
    /// In the normalised units the run solves in.
    pub alpha: f64,
    pub baseline: f64,
    pub pve: f64,
    /// Spikes per frame at the original rate.
    pub spikes: Vec<f32>,
}

/// A unit that failed where it ran: its error code and message, kept for the results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFailure {
    pub code: String,
    pub message: String,
}

impl From<&SolverError> for UnitFailure {
    fn from(e: &SolverError) -> Self {
        UnitFailure {
            code: e.code().into(),
            message: e.to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Appends words to a record whose first word is its length, filled in by `finish`.
struct Writer(Vec<f64>);

impl Writer {
    fn new(tag: f64, capacity: usize) -> Self {
        let mut w = Vec::with_capacity(capacity + 2);
        w.push(0.0);
        w.push(tag);
        Writer(w)
    }
    fn int(&mut self, v: usize) {
        self.0.push(v as f64);
    }
    fn num(&mut self, v: f64) {
        self.0.push(v);
    }
    fn finish(mut self) -> Vec<f64> {
        self.0[0] = self.0.len() as f64;
        self.0
    }
}

/// Reads a record, naming the field that does not fit.
struct Reader<'a> {
    what: &'static str,
    words: &'a [f64],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(what: &'static str, tag: f64, words: &'a [f64]) -> Result<Self> {
        let bad = |why: String| SolverError::ShapeMismatch(format!("{what} record: {why}"));
        if words.len() < 2 {
            return Err(bad(format!(
                "{} words, too short for a header",
                words.len()
            )));
        }
        if words[0] != words.len() as f64 {
            return Err(bad(format!(
                "its header says {} words but it has {}",
                words[0],
                words.len()
            )));
        }
        if words[1] != tag {
            return Err(bad(format!("kind {} where {tag} was expected", words[1])));
        }
        Ok(Reader { what, words, at: 2 })
    }
    fn bad(&self, why: String) -> SolverError {
        SolverError::ShapeMismatch(format!("{} record: {why}", self.what))
    }
    fn num(&mut self, field: &str) -> Result<f64> {
        let v = *self
            .words
            .get(self.at)
            .ok_or_else(|| self.bad(format!("ends before {field}")))?;
        self.at += 1;
        Ok(v)
    }
    fn int(&mut self, field: &str) -> Result<usize> {
        let v = self.num(field)?;
        if !(v >= 0.0 && v.fract() == 0.0 && v < 9.007_199_254_740_992e15) {
            return Err(self.bad(format!("{field} is {v}, not a count")));
        }
        Ok(v as usize)
    }
    fn flag(&mut self, field: &str) -> Result<bool> {
        match self.num(field)? {
            0.0 => Ok(false),
            1.0 => Ok(true),
            v => Err(self.bad(format!("{field} is {v}, not 0 or 1"))),
        }
    }
    fn slice(&mut self, field: &str, n: usize) -> Result<&'a [f64]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.words.len());
        let Some(end) = end else {
            return Err(self.bad(format!(
                "{field} needs {n} words but {} are left",
                self.words.len() - self.at
            )));
        };
        let s = &self.words[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn f32s(&mut self, field: &str, n: usize) -> Result<Vec<f32>> {
        let s = self.slice(field, n)?;
        Ok(s.iter().map(|&v| v as f32).collect())
    }
    fn end(self) -> Result<()> {
        if self.at != self.words.len() {
            return Err(self.bad(format!(
                "{} words left over after the last field",
                self.words.len() - self.at
            )));
        }
        Ok(())
    }
}

impl SegmentTask {
    pub fn to_words(&self) -> Vec<f64> {
        let n = self.warm.as_ref().map_or(0, Vec::len);
        let mut w = Writer::new(TAG_SEGMENT_TASK, 7 + n);
        w.int(self.job);
        w.int(self.cell);
        w.int(self.t_start);
        w.int(self.t_end);
        w.num(self.tau_rise);
        w.num(self.tau_decay);
        w.int(usize::from(self.warm.is_some()));
        if let Some(warm) = &self.warm {
            warm.iter().for_each(|&v| w.num(v as f64));
        }
        w.finish()
    }

    pub fn from_words(words: &[f64]) -> Result<Self> {
        let mut r = Reader::new("segment task", TAG_SEGMENT_TASK, words)?;
        let job = r.int("job")?;
        let cell = r.int("cell")?;
        let t_start = r.int("t_start")?;
        let t_end = r.int("t_end")?;
        if t_end <= t_start {
            return Err(r.bad(format!("frames [{t_start}, {t_end}) are empty")));
        }
        let tau_rise = r.num("tau_rise")?;
        let tau_decay = r.num("tau_decay")?;
        let warm = if r.flag("has_warm")? {
            Some(r.f32s("warm", t_end - t_start)?)
        } else {
            None
        };
        r.end()?;
        Ok(SegmentTask {
            job,
            cell,
            t_start,
            t_end,
            tau_rise,
            tau_decay,
            warm,
        })
    }
}

impl SegmentSolution {
    pub fn to_words(&self) -> Vec<f64> {
        let s = &self.solution;
        let t = s.s_counts.len();
        let ones: Vec<usize> = (0..self.s_fine.len())
            .filter(|&m| self.s_fine[m] != 0.0)
            .collect();
        let mut w = Writer::new(TAG_SEGMENT_SOLUTION, 14 + 2 * t + ones.len());
        w.int(self.job);
        w.num(self.tau_rise);
        w.num(self.tau_decay);
        w.num(s.alpha);
        w.num(s.baseline);
        w.num(s.pve);
        w.num(s.threshold);
        w.int(s.iterations);
        w.int(usize::from(s.converged));
        w.int(t);
        w.int(self.preprocessed.len());
        w.int(self.s_fine.len());
        w.int(ones.len());
        s.s_counts.iter().for_each(|&v| w.num(v as f64));
        self.preprocessed.iter().for_each(|&v| w.num(v));
        ones.iter().for_each(|&m| w.int(m));
        w.finish()
    }

    pub fn from_words(words: &[f64]) -> Result<Self> {
        let mut r = Reader::new("segment solution", TAG_SEGMENT_SOLUTION, words)?;
        let job = r.int("job")?;
        let tau_rise = r.num("tau_rise")?;
        let tau_decay = r.num("tau_decay")?;
        let alpha = r.num("alpha")?;
        let baseline = r.num("baseline")?;
        let pve = r.num("pve")?;
        let threshold = r.num("threshold")?;
        let iterations = r.int("iterations")?;
        let converged = r.flag("converged")?;
        let t = r.int("frames")?;
        let n_pre = r.int("preprocessed length")?;
        let n_fine = r.int("fine-grid length")?;
        let n_ones = r.int("spike count")?;
        let s_counts = r.f32s("s_counts", t)?;
        let preprocessed = r.slice("preprocessed", n_pre)?.to_vec();
        let ones = r.slice("spike positions", n_ones)?;
        let mut s_fine = vec![0.0; n_fine];
        let mut last: Option<usize> = None;
        for &v in ones {
            let m = v as usize;
            if !(v >= 0.0 && v.fract() == 0.0 && m < n_fine && last.is_none_or(|l| m > l)) {
                return Err(r.bad(format!(
                    "spike position {v} is not an increasing index below {n_fine}"
                )));
            }
            s_fine[m] = 1.0;
            last = Some(m);
        }
        r.end()?;
        Ok(SegmentSolution {
            job,
            tau_rise,
            tau_decay,
            solution: TraceSolution {
                s_counts,
                alpha,
                baseline,
                pve,
                threshold,
                iterations,
                converged,
            },
            s_fine,
            preprocessed,
        })
    }
}

impl FinalCell {
    pub fn to_words(&self) -> Vec<f64> {
        let mut w = Writer::new(TAG_FINAL_CELL, 7 + self.spikes.len());
        w.int(self.cell);
        w.num(self.tau_rise);
        w.num(self.tau_decay);
        w.num(self.alpha);
        w.num(self.baseline);
        w.num(self.pve);
        w.int(self.spikes.len());
        self.spikes.iter().for_each(|&v| w.num(v as f64));
        w.finish()
    }

    pub fn from_words(words: &[f64]) -> Result<Self> {
        let mut r = Reader::new("final cell", TAG_FINAL_CELL, words)?;
        let cell = r.int("cell")?;
        let tau_rise = r.num("tau_rise")?;
        let tau_decay = r.num("tau_decay")?;
        let alpha = r.num("alpha")?;
        let baseline = r.num("baseline")?;
        let pve = r.num("pve")?;
        let t = r.int("frames")?;
        let spikes = r.f32s("spikes", t)?;
        r.end()?;
        Ok(FinalCell {
            cell,
            tau_rise,
            tau_decay,
            alpha,
            baseline,
            pve,
            spikes,
        })
    }
}

/// Splits concatenated records (as [`super::run::IndecaRun::segment_tasks`] hands them over
/// the wasm boundary) at their length words.
pub fn split_records(words: &[f64]) -> Result<Vec<&[f64]>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < words.len() {
        let n = words[at];
        let len = n as usize;
        if !(n >= 2.0 && n.fract() == 0.0 && len <= words.len() - at) {
            return Err(SolverError::ShapeMismatch(format!(
                "record at word {at} says it has {n} words; {} are left",
                words.len() - at
            )));
        }
        out.push(&words[at..at + len]);
        at += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solution() -> SegmentSolution {
        let mut s_fine = vec![0.0; 12];
        s_fine[1] = 1.0;
        s_fine[7] = 1.0;
        SegmentSolution {
            job: 4,
            tau_rise: 0.0123,
            tau_decay: 0.4567,
            solution: TraceSolution {
                s_counts: vec![1.0, 0.0, 1.0, 0.0],
                alpha: 1.0 / 3.0,
                baseline: -0.1,
                pve: 0.7,
                threshold: 0.35,
                iterations: 51,
                converged: true,
            },
            s_fine,
            preprocessed: vec![0.1, f64::MIN_POSITIVE, -2.5, 1e300],
        }
    }

    #[test]
    fn records_round_trip_exactly() {
        let task = SegmentTask {
            job: 3,
            cell: 9,
            t_start: 10,
            t_end: 13,
            tau_rise: 0.017,
            tau_decay: 0.4,
            warm: Some(vec![0.0, 2.0, 1.0]),
        };
        assert_eq!(SegmentTask::from_words(&task.to_words()).unwrap(), task);
        let cold = SegmentTask { warm: None, ..task };
        assert_eq!(SegmentTask::from_words(&cold.to_words()).unwrap(), cold);
        let sol = solution();
        assert_eq!(SegmentSolution::from_words(&sol.to_words()).unwrap(), sol);
        let cell = FinalCell {
            cell: 2,
            tau_rise: 0.02,
            tau_decay: 0.5,
            alpha: 2.0,
            baseline: 0.25,
            pve: 0.9,
            spikes: vec![0.0, 0.125, 3.0],
        };
        assert_eq!(FinalCell::from_words(&cell.to_words()).unwrap(), cell);
    }

    #[test]
    fn concatenated_records_split_at_their_lengths() {
        let a = solution().to_words();
        let b = SegmentTask {
            job: 0,
            cell: 0,
            t_start: 0,
            t_end: 1,
            tau_rise: 0.1,
            tau_decay: 1.0,
            warm: None,
        }
        .to_words();
        let flat: Vec<f64> = a.iter().chain(&b).copied().collect();
        let parts = split_records(&flat).unwrap();
        assert_eq!(parts, vec![&a[..], &b[..]]);
        assert_eq!(split_records(&[]).unwrap().len(), 0);
        assert_eq!(
            split_records(&[5.0, 1.0]).unwrap_err().code(),
            "SHAPE_MISMATCH"
        );
        assert_eq!(split_records(&[0.5]).unwrap_err().code(), "SHAPE_MISMATCH");
    }

    #[test]
    fn malformed_records_are_refused_with_the_field_named() {
        let good = solution().to_words();
        let msg = |w: &[f64]| SegmentSolution::from_words(w).unwrap_err().to_string();
        assert!(msg(&good[..good.len() - 1]).contains("header says"));
        let mut wrong_kind = good.clone();
        wrong_kind[1] = TAG_FINAL_CELL;
        assert!(msg(&wrong_kind).contains("kind"));
        let mut bad_job = good.clone();
        bad_job[2] = -1.0;
        assert!(msg(&bad_job).contains("job"));
        // The last word is the position of the second spike (7): out of range, then repeated.
        let mut bad_pos = good.clone();
        *bad_pos.last_mut().unwrap() = 12.0;
        assert!(msg(&bad_pos).contains("spike position"));
        *bad_pos.last_mut().unwrap() = 1.0;
        assert!(msg(&bad_pos).contains("increasing"));
        let mut extra = good.clone();
        extra.push(0.0);
        extra[0] += 1.0;
        assert!(msg(&extra).contains("left over"));
        let mut empty = SegmentTask {
            job: 0,
            cell: 0,
            t_start: 4,
            t_end: 5,
            tau_rise: 0.1,
            tau_decay: 1.0,
            warm: None,
        }
        .to_words();
        empty[5] = 4.0;
        let e = SegmentTask::from_words(&empty).unwrap_err();
        assert_eq!(e.code(), "SHAPE_MISMATCH");
        assert!(e.to_string().contains("empty"));
        assert!(FinalCell::from_words(&[f64::NAN; 3]).is_err());
    }
}
