//! Exact L0-penalised spike inference for an AR(1) calcium model.
//!
//! Model: `y_t = c_t + e_t`, `c_t = gamma c_{t-1} + z_t`. For a trace `y_0..y_{T-1}` we minimise
//! `1/2 sum_t (y_t - c_t)^2 + lambda #{t >= 1 : z_t != 0}` over the calcium `c`, either
//! unconstrained or with `z_t >= 0` (a spike can only raise the calcium). `c_0` is free and
//! unpenalised. The solution is exact (up to floating point), following Jewell & Witten (2018) and
//! Jewell, Hocking, Fearnhead & Witten (2020).
//!
//! Method: dynamic programming over the calcium level `e` at the current time with functional
//! pruning. `G_s(e)` is the best cost of `y_0..y_s` with `c_s = e`; it is kept as a sorted list of
//! pieces covering the real line. Between spikes the calcium decays geometrically, so every piece
//! is "segment started at `tau` with a known prefix cost `K`", a convex quadratic in the segment's
//! *starting* level `m = e / gamma^(s - tau)`. The recursion is
//! `G_s(e) = 1/2 (y_s - e)^2 + min(G_{s-1}(e / gamma), S(e))`, where the spike option `S` is
//! `min G_{s-1} + lambda` (unconstrained) or `min_{x <= e / gamma} G_{s-1}(x) + lambda` (positive).
//! Only the flat parts of that prefix minimum can beat the no-spike option, so `S` is a few
//! constants on intervals; the lower envelope keeps only the pieces that can still be optimal.
//! With the positive constraint the envelope alone would keep one "silent since tau" state per
//! past spike (low levels cannot be reached by a spike), so `Dp::prune` also drops states that
//! another state beats for every possible future (two dominance arguments, see there; still
//! exact); that keeps the work close to linear in T.
//!
//! Layout: each piece carries everything the passes read (its segment's decay factor and running
//! sums, the vertex of its quadratic and its own minimum, refreshed once per step), so the passes
//! stream through the few live pieces instead of chasing indices into per-segment tables; the
//! origins table is only written when a segment starts and read when the path is traced back. The
//! prune is branch-free.
//!
//! Numerics: segment statistics are sums of `y_t gamma^(t - tau)` and `gamma^(2(t - tau))`, which
//! shrink along a segment (no overflow); pieces store their bounds in the starting-level
//! coordinate, so advancing time only rescales one factor per piece. That factor is floored at
//! [`DECAY_FLOOR`]: beyond ~345 / ln(1/gamma) frames without a spike the modelled calcium of the
//! segment is below 1e-150 of its start and further decay is ignored (an error of that order).

use crate::error::{check_finite, check_magnitude, Result, SolverError};
use crate::rows::map_rows;

/// Smallest decay factor `gamma^n` tracked for a segment (its square stays a normal f64).
pub const DECAY_FLOOR: f64 = 1e-150;

const NONE: u32 = u32::MAX;

/// Steps between two `Dp::recenter` calls (the values grow by a few frames' misfit in between).
const RECENTER_EVERY: usize = 8;

/// The exact solution for one trace.
#[derive(Debug, Clone, PartialEq)]
pub struct L0Solution {
    /// Fitted calcium `c_t`, same length as the trace.
    pub calcium: Vec<f64>,
    /// Spike sizes `z_t = c_t - gamma c_{t-1}` at spike times, zero elsewhere.
    pub spikes: Vec<f64>,
    /// Indices `t >= 1` with a spike, increasing.
    pub spike_times: Vec<usize>,
    /// Attained objective `1/2 ||y - c||^2 + lambda * spike_times.len()`.
    pub cost: f64,
}

/// `gamma = exp(-1 / (tau_decay fs))`, the AR(1) coefficient of a decay time constant.
pub fn gamma_from_tau(tau_decay: f64, fs: f64) -> Result<f64> {
    if !(tau_decay.is_finite() && tau_decay > 0.0) {
        return Err(SolverError::param(
            "tau_decay",
            tau_decay,
            "must be a finite number of seconds > 0",
        ));
    }
    if !(fs.is_finite() && fs > 0.0) {
        return Err(SolverError::param(
            "fs",
            fs,
            "must be a finite rate in Hz > 0",
        ));
    }
    let g = (-1.0 / (tau_decay * fs)).exp();
    if !(g > 0.0 && g < 1.0) {
        return Err(SolverError::param(
            "tau_decay",
            tau_decay,
            format!(
                "tau_decay * fs = {} gives gamma = {g}, which is not strictly between 0 and 1",
                tau_decay * fs
            ),
        ));
    }
    Ok(g)
}

fn check_params(gamma: f64, lambda: f64) -> Result<()> {
    if !(gamma > 0.0 && gamma < 1.0) {
        return Err(SolverError::param(
            "gamma",
            gamma,
            "must be strictly between 0 and 1",
        ));
    }
    crate::error::require_lambda("lambda", lambda)
}

/// Where a family of pieces came from: a segment starting at `tau` whose prefix (everything before
/// `tau`, including its spike penalty) costs `k`; `prev` / `prev_m` locate the previous segment.
#[derive(Clone, Copy)]
struct Origin {
    tau: usize,
    k: f64,
    prev: u32,
    prev_m: f64,
}

/// One piece of `G_s`: origin's function on starting levels `[ml, mr]`. Everything the passes
/// read lives in the piece itself, so they stream through a few cache lines instead of chasing
/// indices into per-segment tables: the segment's decay factor `p = gamma^(s - tau)` (floored at
/// DECAY_FLOOR), the origin's prefix cost `k`, the segment's running statistics (sums of
/// `y_t p_t`, `p_t^2`, `y_t^2` over `tau..=s`; pieces of one segment carry identical copies,
/// each updated once per step, so no step has to find which segments it has already updated),
/// and, refreshed once per step after the data term, the vertex `(fmin, mv)` of the quadratic
/// and the piece's own minimum `v` at the starting level `m` (the vertex clamped to the piece).
#[derive(Clone, Copy)]
struct Piece {
    origin: u32,
    ml: f64,
    mr: f64,
    p: f64,
    k: f64,
    syy: f64,
    syg: f64,
    sgg: f64,
    fmin: f64,
    mv: f64,
    v: f64,
    m: f64,
}

impl Piece {
    /// A piece of a segment that starts now (p = 1, no data yet); `refresh` adds the first term.
    fn fresh(origin: u32, k: f64, ml: f64, mr: f64) -> Self {
        Piece {
            origin,
            ml,
            mr,
            p: 1.0,
            k,
            syy: 0.0,
            syg: 0.0,
            sgg: 0.0,
            fmin: 0.0,
            mv: 0.0,
            v: 0.0,
            m: 0.0,
        }
    }

    /// The same function on `[ml, mr]`.
    #[inline]
    fn with_bounds(&self, ml: f64, mr: f64) -> Self {
        Piece { ml, mr, ..*self }
    }
}

/// A constant part of the spike option: levels `[lo, hi]` at the previous time, prefix value
/// `val`, attained by `origin` at starting level `m`.
#[derive(Clone, Copy)]
struct Flat {
    lo: f64,
    hi: f64,
    val: f64,
    origin: u32,
    m: f64,
}

/// Minimum value and minimiser (in starting-level coordinates) of a piece's quadratic.
#[inline]
fn vertex(pc: &Piece) -> (f64, f64) {
    let mv = pc.syg / pc.sgg;
    (pc.k + 0.5 * (pc.syy - pc.syg * mv), mv)
}

/// `max` and `min` for values that are never NaN (the DP's levels and costs: the trace is
/// finite and every denominator is at least 1): one instruction instead of `f64::max`'s NaN
/// handling, in the innermost loops.
#[inline(always)]
fn maxf(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn minf(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

#[inline]
fn eval(fmin: f64, mv: f64, sgg: f64, m: f64) -> f64 {
    let d = m - mv;
    fmin + 0.5 * sgg * d * d
}

struct Dp {
    origins: Vec<Origin>,
    pieces: Vec<Piece>,
    next: Vec<Piece>,
    flats: Vec<Flat>,
    flat_origin: Vec<u32>,
    /// Total subtracted from the live prefix costs by `recenter`.
    offset: f64,
}

impl Dp {
    /// Constant parts of the spike option at the previous time (levels before rescaling).
    fn build_flats(&mut self, positive: bool) {
        self.flats.clear();
        if !positive {
            let mut best = (f64::INFINITY, NONE, 0.0);
            for pc in &self.pieces {
                if pc.v < best.0 {
                    best = (pc.v, pc.origin, pc.m);
                }
            }
            self.flats.push(Flat {
                lo: f64::NEG_INFINITY,
                hi: f64::INFINITY,
                val: best.0,
                origin: best.1,
                m: best.2,
            });
            return;
        }
        // Prefix minimum H(x) = min_{x' <= x} G(x'), scanned left to right.
        let mut run = f64::INFINITY;
        let mut arg = (NONE, 0.0);
        let mut flat_start: Option<f64> = None;
        for pc in &self.pieces {
            let (fmin, mv, sgg) = (pc.fmin, pc.mv, pc.sgg);
            // First level of this piece at or below the running minimum, if any; otherwise
            // the current flat simply continues across the piece.
            let m_in = if run == f64::INFINITY {
                pc.ml
            } else if run <= fmin {
                continue;
            } else {
                let d = (2.0 * (run - fmin) / sgg).sqrt();
                if mv - d >= pc.mr || mv + d <= pc.ml {
                    continue;
                }
                maxf(mv - d, pc.ml)
            };
            if let Some(lo) = flat_start.take() {
                let hi = m_in * pc.p;
                if hi > lo {
                    self.flats.push(Flat {
                        lo,
                        hi,
                        val: run,
                        origin: arg.0,
                        m: arg.1,
                    });
                }
            }
            let m_low = if mv < pc.mr { maxf(mv, m_in) } else { pc.mr };
            run = eval(fmin, mv, sgg, m_low);
            arg = (pc.origin, m_low);
            flat_start = Some(m_low * pc.p);
        }
        if let Some(lo) = flat_start {
            self.flats.push(Flat {
                lo,
                hi: f64::INFINITY,
                val: run,
                origin: arg.0,
                m: arg.1,
            });
        }
    }

    #[inline]
    fn push(out: &mut Vec<Piece>, piece: Piece) {
        if piece.mr.partial_cmp(&piece.ml) != Some(std::cmp::Ordering::Greater) {
            return;
        }
        if let Some(last) = out.last_mut() {
            if last.origin == piece.origin {
                last.mr = maxf(last.mr, piece.mr);
                return;
            }
        }
        out.push(piece);
    }

    /// Origin id of the new segment started by flat `k` at time `s` (created on first use).
    fn new_origin(&mut self, k: usize, s: usize, lambda: f64) -> u32 {
        if self.flat_origin[k] == NONE {
            let f = self.flats[k];
            self.origins.push(Origin {
                tau: s,
                k: f.val + lambda,
                prev: f.origin,
                prev_m: f.m,
            });
            self.flat_origin[k] = (self.origins.len() - 1) as u32;
        }
        self.flat_origin[k]
    }

    /// New-segment pieces for the levels `[from, to]` (time s) that hold no no-spike state.
    fn fill_gap(
        &mut self,
        out: &mut Vec<Piece>,
        j: &mut usize,
        from: f64,
        to: f64,
        s: usize,
        lambda: f64,
    ) {
        let nf = self.flats.len();
        let mut k = *j;
        while k < nf && self.flats[k].hi <= from {
            k += 1;
        }
        while k < nf && self.flats[k].lo < to {
            let fl = self.flats[k];
            let id = self.new_origin(k, s, lambda);
            let prefix = self.origins[id as usize].k;
            Self::push(
                out,
                Piece::fresh(id, prefix, maxf(fl.lo, from), minf(fl.hi, to)),
            );
            if fl.hi <= to {
                k += 1;
            } else {
                break;
            }
        }
        *j = k;
    }

    /// Drop pieces that cannot be on an optimal path (positive variant), by two dominance
    /// arguments, both exact.
    ///
    /// Two-sided: shifting a future path by a decaying offset `d gamma^k` keeps its spikes, so
    /// the state `(e', v')` beats every state `(e, v)` with `v - v' > K |e - e'| + Q (e - e')^2`,
    /// where `K = sqrt(2 R / (1 - gamma^2))`, `Q = 1 / (2 (1 - gamma^2))` and `R <= upper - min G`
    /// bounds the residual cost still to come on any path that could beat the feasible solution
    /// costing `upper`. Compared against the global minimiser and the right neighbour's minimiser.
    ///
    /// One-sided, local: a lower state `e' = e - d` (d > 0) can copy any future of `e` until
    /// that future's first spike and then jump to the same level (a larger jump, still positive),
    /// so from there on both cost the same. Until then both decay, and the extra cost is
    /// `d sum_{k<m} gamma^k (y_{s+k} - e_mid gamma^k) <= d (W_s + gamma^2 / (1 - gamma^2) max(0,
    /// -e_mid))` with `e_mid = (e + e') / 2` and `W_s = max_m sum_{k<m} gamma^k y_{s+k}` (`w_s`,
    /// precomputed backwards over the data). This bound depends on the next few decay times of
    /// data instead of the whole rest of the trace, so it prunes far more. Compared against the
    /// lowest minimiser to the left. (Measured on long simulated traces, the tests left out, the
    /// two-sided one against the left neighbour and the one-sided one against it, dropped almost
    /// nothing the three kept did not.)
    fn prune(&mut self, gamma: f64, upper: f64, w_s: f64) {
        let n = self.pieces.len();
        if n < 3 {
            return;
        }
        let mut best = (f64::INFINITY, 0usize);
        for (i, pc) in self.pieces.iter().enumerate() {
            if pc.v < best.0 {
                best = (pc.v, i);
            }
        }
        let one_g2 = 1.0 - gamma * gamma;
        let k = (2.0 * (upper - (best.0 + self.offset)).max(0.0) / one_g2).sqrt();
        let q = 0.5 / one_g2;
        let c_neg = gamma * gamma / one_g2;
        // (min value, its level, interval ends) of piece i; read before any piece is moved
        // (the compaction below only writes at or below the index it reads).
        let key = |pc: &Piece| (pc.v, pc.m * pc.p, pc.ml * pc.p, pc.mr * pc.p);
        // Branch-free: which pieces fall is data-dependent and would mispredict.
        let beaten = |(v, _, a, b): (f64, f64, f64, f64), (vj, ej, _, _): (f64, f64, f64, f64)| {
            let d = maxf((a - ej).abs(), (b - ej).abs());
            d.is_finite() & (v - vj > k * d + q * d * d)
        };
        let beaten_from_left = |(v, _, a, b): (f64, f64, f64, f64), (vj, ej): (f64, f64)| {
            let u = w_s + c_neg * maxf(0.0, -0.5 * (a + ej));
            b.is_finite() & (ej <= a) & (v - vj > (b - ej) * u)
        };
        let best_key = key(&self.pieces[best.1]);
        let mut cur = key(&self.pieces[0]);
        let mut left = (f64::INFINITY, f64::NEG_INFINITY);
        let mut w = 0usize;
        for i in 0..n {
            let next_key = if i + 1 < n {
                Some(key(&self.pieces[i + 1]))
            } else {
                None
            };
            let drop = (i != best.1)
                & (beaten(cur, best_key)
                    | beaten_from_left(cur, left)
                    | next_key.is_some_and(|nk| beaten(cur, nk)));
            self.pieces[w] = self.pieces[i];
            w += usize::from(!drop);
            if cur.0 < left.0 {
                left = (cur.0, cur.1);
            }
            if let Some(nk) = next_key {
                cur = nk;
            }
        }
        self.pieces.truncate(w);
    }

    /// Add the data term `1/2 (y_s - e)^2` to every piece's segment statistics, then refresh its
    /// vertex and minimum.
    fn refresh(&mut self, y: f64) {
        for pc in self.pieces.iter_mut() {
            pc.syy += y * y;
            pc.syg += y * pc.p;
            pc.sgg += pc.p * pc.p;
            let (fmin, mv) = vertex(pc);
            let m = minf(maxf(mv, pc.ml), pc.mr);
            pc.fmin = fmin;
            pc.mv = mv;
            pc.m = m;
            pc.v = eval(fmin, mv, pc.sgg, m);
        }
    }

    /// Subtract the smallest value of `G` from the prefix cost of every live piece. Every path
    /// pays the misfit of every frame, so the values of `G` grow with time (by about `y^2 / 2`
    /// per frame); left alone, their rounding error outgrows `lambda` and ties between nearly
    /// equal options are no longer resolved: the envelope fills with slivers, each kept for an
    /// advantage below the rounding error (20,000 frames alternating +-1e6 took 38 s, 100x the
    /// time of 10,000). One constant off every live piece (its `k` and the cached `fmin` and `v`
    /// that include it) changes no comparison and keeps the values near the differences that
    /// decide. The origins' own `k` is only read when a segment starts (from values already
    /// recentred) and never by the backtrack, so it is left as it is.
    fn recenter(&mut self) {
        let best = self
            .pieces
            .iter()
            .fold(f64::INFINITY, |b, pc| minf(b, pc.v));
        if !best.is_finite() || best == 0.0 {
            return;
        }
        for pc in self.pieces.iter_mut() {
            pc.k -= best;
            pc.fmin -= best;
            pc.v -= best;
        }
        self.offset += best;
    }

    fn step(&mut self, s: usize, y: f64, gamma: f64, lambda: f64, positive: bool) {
        self.build_flats(positive);
        // Time advances: every live segment decays by one factor of gamma.
        for pc in self.pieces.iter_mut() {
            pc.p = maxf(pc.p * gamma, DECAY_FLOOR);
        }
        for f in self.flats.iter_mut() {
            f.lo *= gamma;
            f.hi *= gamma;
        }
        self.flat_origin.clear();
        self.flat_origin.resize(self.flats.len(), NONE);

        // Lower envelope of the no-spike pieces and the spike constants. New pieces start at
        // time s, where the starting level is the current level (p = 1).
        let pieces = std::mem::take(&mut self.pieces);
        let mut out = std::mem::take(&mut self.next);
        out.clear();
        let nf = self.flats.len();
        let mut j = 0usize;
        let mut cursor = f64::NEG_INFINITY;
        for pc in &pieces {
            let (p, sgg, fmin, mv) = (pc.p, pc.sgg, pc.fmin, pc.mv);
            let (a, b) = (pc.ml * p, pc.mr * p);
            // Levels left free by pruning (see `prune`) only get the spike option.
            if (cursor == f64::NEG_INFINITY && a > cursor)
                || a - cursor > 1e-12 * (a.abs() + cursor.abs())
            {
                self.fill_gap(&mut out, &mut j, cursor, a, s, lambda);
            }
            cursor = b;
            while j < nf && self.flats[j].hi <= a {
                j += 1;
            }
            let mut x = pc.ml;
            let mut k = j;
            while k < nf && self.flats[k].lo < b {
                let fl = self.flats[k];
                let lo = maxf(fl.lo / p, pc.ml);
                let hi = minf(fl.hi / p, pc.mr);
                if x < lo {
                    Self::push(&mut out, pc.with_bounds(x, lo));
                }
                let c = fl.val + lambda;
                if c <= fmin {
                    let id = self.new_origin(k, s, lambda);
                    Self::push(&mut out, Piece::fresh(id, c, lo * p, hi * p));
                } else {
                    let d = (2.0 * (c - fmin) / sgg).sqrt();
                    let (r1, r2) = (mv - d, mv + d);
                    if r1 > lo {
                        let id = self.new_origin(k, s, lambda);
                        Self::push(&mut out, Piece::fresh(id, c, lo * p, minf(r1, hi) * p));
                    }
                    Self::push(&mut out, pc.with_bounds(maxf(r1, lo), minf(r2, hi)));
                    if r2 < hi {
                        let id = self.new_origin(k, s, lambda);
                        Self::push(&mut out, Piece::fresh(id, c, maxf(r2, lo) * p, hi * p));
                    }
                }
                x = maxf(x, hi);
                if fl.hi <= b {
                    k += 1;
                } else {
                    break;
                }
            }
            j = k;
            if x < pc.mr {
                Self::push(&mut out, pc.with_bounds(x, pc.mr));
            }
        }
        if cursor < f64::INFINITY {
            self.fill_gap(&mut out, &mut j, cursor, f64::INFINITY, s, lambda);
        }
        self.next = pieces;
        self.pieces = out;

        self.refresh(y);
    }
}

/// Cost of a feasible positive path: `c_0 = y_0`, then a spike up to `y_t` whenever it exceeds
/// `gamma c_{t-1}` by more than `threshold`, plain decay otherwise.
fn greedy_cost(y: &[f64], gamma: f64, lambda: f64, threshold: f64) -> f64 {
    let mut c = y[0];
    let mut cost = 0.0;
    for &v in &y[1..] {
        let decayed = gamma * c;
        if v - decayed > threshold {
            c = v;
            cost += lambda;
        } else {
            c = decayed;
            cost += 0.5 * (v - c) * (v - c);
        }
    }
    cost
}

/// Solve the L0 problem exactly for one trace (`positive`: spikes must be > 0).
pub fn solve_l0(y: &[f64], gamma: f64, lambda: f64, positive: bool) -> Result<L0Solution> {
    solve_impl(y, gamma, lambda, positive, true, true).map(|(sol, _)| sol)
}

/// The solve; also returns the largest number of pieces `G` had (the work per step).
fn solve_impl(
    y: &[f64],
    gamma: f64,
    lambda: f64,
    positive: bool,
    prune: bool,
    recenter: bool,
) -> Result<(L0Solution, usize)> {
    check_params(gamma, lambda)?;
    if y.is_empty() {
        return Err(SolverError::TraceTooShort { len: 0, min: 1 });
    }
    check_finite(y)?;
    check_magnitude(y)?;
    let n = y.len();
    let mut dp = Dp {
        origins: vec![Origin {
            tau: 0,
            k: 0.0,
            prev: NONE,
            prev_m: 0.0,
        }],
        pieces: vec![Piece::fresh(0, 0.0, f64::NEG_INFINITY, f64::INFINITY)],
        next: Vec::new(),
        flats: Vec::new(),
        flat_origin: Vec::new(),
        offset: 0.0,
    };
    dp.refresh(y[0]);
    // Cost of a feasible solution (one decaying segment, no spike): bounds what is left to fit.
    let (mut syy, mut syg, mut sgg, mut p) = (0.0, 0.0, 0.0, 1.0);
    for &v in y {
        syy += v * v;
        syg += v * p;
        sgg += p * p;
        p *= gamma;
    }
    let mut upper = 0.5 * (syy - syg * syg / sgg).max(0.0);
    if positive && prune {
        // Tighter: greedy feasible paths (spike up to the data when it exceeds the decayed
        // calcium by a threshold); a smaller bound lets the two-sided test prune more.
        let unit = (2.0 * lambda).sqrt().max(f64::MIN_POSITIVE);
        for f in [0.5, 1.0, 2.0] {
            upper = upper.min(greedy_cost(y, gamma, lambda, f * unit));
        }
    }
    let upper = upper + 1e-12 * syy;
    // W_s = max_m sum_{k=1}^{m-1} gamma^k y_{s+k} (empty sum 0), for the one-sided prune.
    let mut w_ahead = vec![0.0; if positive && prune { n } else { 0 }];
    for s in (0..w_ahead.len().saturating_sub(1)).rev() {
        w_ahead[s] = (gamma * (y[s + 1] + w_ahead[s + 1])).max(0.0);
    }
    let mut max_pieces = 1;
    for (s, &ys) in y.iter().enumerate().skip(1) {
        if s % 4096 == 0 && crate::cancel::cancelled() {
            return Err(SolverError::Cancelled);
        }
        dp.step(s, ys, gamma, lambda, positive);
        if recenter && s % RECENTER_EVERY == 0 {
            dp.recenter();
        }
        if positive && prune {
            dp.prune(gamma, upper, w_ahead[s]);
        }
        max_pieces = max_pieces.max(dp.pieces.len());
    }

    // Best final level, then follow the origins back segment by segment.
    let mut best = (f64::INFINITY, 0u32, 0.0);
    for pc in &dp.pieces {
        if pc.v < best.0 {
            best = (pc.v, pc.origin, pc.m);
        }
    }
    let mut calcium = vec![0.0; n];
    let (mut origin, mut m, mut end) = (best.1, best.2, n);
    let mut changepoints = Vec::new();
    loop {
        let o = dp.origins[origin as usize];
        let mut level = m;
        for c in &mut calcium[o.tau..end] {
            *c = level;
            level *= gamma;
        }
        if o.prev == NONE {
            break;
        }
        changepoints.push(o.tau);
        end = o.tau;
        origin = o.prev;
        m = o.prev_m;
    }
    changepoints.reverse();
    let mut spikes = vec![0.0; n];
    let mut spike_times = Vec::with_capacity(changepoints.len());
    for t in changepoints {
        let z = calcium[t] - gamma * calcium[t - 1];
        if (positive && z > 0.0) || (!positive && z != 0.0) {
            spikes[t] = z;
            spike_times.push(t);
        }
    }
    let fit: f64 = y.iter().zip(&calcium).map(|(a, b)| (a - b) * (a - b)).sum();
    let cost = 0.5 * fit + lambda * spike_times.len() as f64;
    let sol = L0Solution {
        calcium,
        spikes,
        spike_times,
        cost,
    };
    Ok((sol, max_pieces))
}

/// Solve every row of a row-major `(rows, n_cols)` matrix (in parallel with feature `parallel`).
/// Parameters are checked once up front; per-row data errors come back per row.
pub fn solve_l0_rows(
    data: &[f64],
    n_cols: usize,
    gamma: f64,
    lambda: f64,
    positive: bool,
) -> Result<Vec<Result<L0Solution>>> {
    check_params(gamma, lambda)?;
    map_rows(data, n_cols, |r| solve_l0(r, gamma, lambda, positive))
}

/// Result of [`lambda_for_rate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateFit {
    /// The chosen penalty.
    pub lambda: f64,
    /// Firing rate it gives, spikes per second (`num_spikes / (T / fs)`).
    pub rate_hz: f64,
    pub num_spikes: usize,
    /// Number of solves performed.
    pub iterations: u32,
}

/// Most bisection steps [`lambda_for_rate`] takes (each is one exact solve).
pub const RATE_MAX_ITERS: u32 = 60;

/// Choose `lambda` so the exact solution fires at about `target_rate_hz`, by bisection on
/// `log(lambda)` (the spike count does not increase with lambda). Returns the penalty whose rate is
/// closest to the target among those tried (ties: the larger penalty).
pub fn lambda_for_rate(
    y: &[f64],
    gamma: f64,
    fs: f64,
    target_rate_hz: f64,
    positive: bool,
) -> Result<RateFit> {
    check_params(gamma, 0.0)?;
    if !(fs.is_finite() && fs > 0.0) {
        return Err(SolverError::param(
            "fs",
            fs,
            "must be a finite rate in Hz > 0",
        ));
    }
    if !(target_rate_hz.is_finite() && target_rate_hz >= 0.0 && target_rate_hz <= fs) {
        return Err(SolverError::param(
            "target_rate_hz",
            target_rate_hz,
            format!("must be between 0 and the sampling rate fs = {fs} Hz"),
        ));
    }
    if y.is_empty() {
        return Err(SolverError::TraceTooShort { len: 0, min: 1 });
    }
    check_finite(y)?;
    check_magnitude(y)?;
    let duration = y.len() as f64 / fs;
    let target = target_rate_hz * duration;
    // Above half the total energy not even one spike pays off; 1e-12 of it is effectively zero.
    let energy: f64 = 0.5 * y.iter().map(|v| v * v).sum::<f64>();
    let mut hi = if energy > 0.0 { 2.0 * energy } else { 1.0 };
    let mut lo = hi * 1e-12;
    let mut iterations = 0u32;
    let mut best: Option<(f64, f64, usize)> = None; // (|count - target|, lambda, count)
    let consider = |lam: f64, count: usize, best: &mut Option<(f64, f64, usize)>| {
        let err = (count as f64 - target).abs();
        let better = match best {
            None => true,
            Some((e, l, _)) => err < *e || (err == *e && lam > *l),
        };
        if better {
            *best = Some((err, lam, count));
        }
    };
    for lam in [hi, lo] {
        let count = solve_l0(y, gamma, lam, positive)?.spike_times.len();
        iterations += 1;
        consider(lam, count, &mut best);
    }
    while iterations < RATE_MAX_ITERS && hi / lo > 1.0 + 1e-9 {
        if let Some((e, _, _)) = best {
            if e < 0.5 {
                break;
            }
        }
        let mid = (lo * hi).sqrt();
        let count = solve_l0(y, gamma, mid, positive)?.spike_times.len();
        iterations += 1;
        consider(mid, count, &mut best);
        if count as f64 > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let (_, lambda, num_spikes) = best.unwrap_or((0.0, hi, 0));
    Ok(RateFit {
        lambda,
        rate_hz: num_spikes as f64 / duration,
        num_spikes,
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    /// The dominance pruning of the positive variant never changes the optimum: against the
    /// unpruned DP on traces with and without an offset (negative levels exercise the one-sided
    /// bound's `max(0, -e)` term), slow and fast decays.
    #[test]
    fn pruning_keeps_the_optimum() {
        let mut rng = Pcg64::seed_from_u64(17);
        for trial in 0..90 {
            let n = rng.gen_range(50..1500);
            let gamma = if trial % 9 == 8 {
                rng.gen_range(0.99..0.999)
            } else {
                rng.gen_range(0.5..0.99)
            };
            let lambda = [0.0, 0.01, 0.1, 0.5, 2.0][trial % 5];
            let noise = rng.gen_range(0.05..0.8);
            let offset = if trial % 3 == 0 {
                rng.gen_range(-2.0..2.0)
            } else {
                0.0
            };
            let mut c = 0.0;
            let y: Vec<f64> = (0..n)
                .map(|_| {
                    c *= gamma;
                    if rng.gen::<f64>() < 0.05 {
                        c += rng.gen_range(0.5..2.0);
                    }
                    offset + c + noise * rng.gen_range(-1.0..1.0)
                })
                .collect();
            let a = solve_impl(&y, gamma, lambda, true, true, true).unwrap().0;
            let b = solve_impl(&y, gamma, lambda, true, false, true).unwrap().0;
            assert!(
                (a.cost - b.cost).abs() <= 1e-9 * b.cost.abs().max(1e-6),
                "trial {trial}: pruned {} vs full {}",
                a.cost,
                b.cost
            );
        }
    }

    /// Re-centering the values of G changes no decision: same spikes, same cost, on traces of
    /// every kind and scale where the values stay resolvable without it.
    #[test]
    fn recentering_keeps_the_optimum() {
        let mut rng = Pcg64::seed_from_u64(5);
        for trial in 0..40 {
            let n = rng.gen_range(50..3000);
            let gamma = rng.gen_range(0.5..0.99);
            let lambda = [0.01, 0.1, 0.5, 2.0][trial % 4];
            let scale = [1.0, 1e-3, 1e3][trial % 3];
            let mut c = 0.0;
            let y: Vec<f64> = (0..n)
                .map(|_| {
                    c *= gamma;
                    if rng.gen::<f64>() < 0.05 {
                        c += rng.gen_range(0.5..2.0);
                    }
                    scale * (c + 0.3 * rng.gen_range(-1.0..1.0))
                })
                .collect();
            for positive in [true, false] {
                let a = solve_impl(&y, gamma, lambda, positive, true, true)
                    .unwrap()
                    .0;
                let b = solve_impl(&y, gamma, lambda, positive, true, false)
                    .unwrap()
                    .0;
                assert_eq!(
                    a.spike_times, b.spike_times,
                    "trial {trial} positive {positive}"
                );
                assert!(
                    (a.cost - b.cost).abs() <= 1e-9 * b.cost.abs().max(1e-6),
                    "trial {trial}: {} vs {}",
                    a.cost,
                    b.cost
                );
            }
        }
    }

    /// Large amplitudes on a long trace: without re-centering, G's values reach ~1e16, their
    /// rounding error exceeds lambda and the envelope grows to thousands of slivers (38 s for
    /// 20,000 frames of +-1e6). With it the work per step stays flat.
    #[test]
    fn large_values_on_long_traces_keep_the_envelope_small() {
        let n = 30_000;
        let y: Vec<f64> = (0..n)
            .map(|i| if i % 2 == 0 { 1e6 } else { -1e6 })
            .collect();
        let (sol, pieces) = solve_impl(&y, 0.95, 1.0, true, true, true).unwrap();
        assert!(pieces < 200, "{pieces} pieces");
        // A spike on every rising frame is the answer (each removes ~1e12 of misfit for 1).
        assert_eq!(sol.spike_times.len(), n / 2 - 1);
        let short = &y[..8000]; // below the onset both agree
        let (a, pa) = solve_impl(short, 0.95, 1.0, true, true, true).unwrap();
        let (b, _) = solve_impl(short, 0.95, 1.0, true, true, false).unwrap();
        assert_eq!(a.spike_times, b.spike_times);
        assert!(pa < 200);
        let (_, unrecentered) = solve_impl(&y[..14_000], 0.95, 1.0, true, true, false).unwrap();
        assert!(
            unrecentered > 1000,
            "the failure this guards against: {unrecentered}"
        );
    }
}
