//! FISTA (Beck & Teboulle 2009) for  min_{s in C, b} 1/2 ||y - K s - b||^2 + penalty(s).
//!
//! The scalar baseline b is eliminated exactly: for fixed s its optimum is mean(y - K s), so the
//! smooth part becomes 1/2 ||P (y - K s)||^2 with P the centring projection, whose gradient is
//! -K^T P (y - K s) and whose Lipschitz constant is at most max |H(w)|^2 (P has norm 1).
//! Momentum restarts on the gradient-mapping test of O'Donoghue & Candes (2015). Convergence is
//! the relative change of the iterate, checked from iteration [`MIN_ITERS_BEFORE_CHECK`] on, which
//! costs no extra operator application.

use crate::operator::{Constraint, ConvOperator};

pub const DEFAULT_TOL: f64 = 1e-6;
pub const MIN_ITERS_BEFORE_CHECK: u32 = 5;

/// Fixed quantities of one problem.
#[derive(Debug, Clone, Copy)]
pub struct FistaConfig {
    /// 1 / L.
    pub step: f64,
    /// lambda * G_dc (zero for the box constraint).
    pub l1_weight: f64,
    pub constraint: Constraint,
    pub tol: f64,
    /// Changes below this absolute size also count as converged (an iterate that is zero up
    /// to rounding has no meaningful relative change).
    pub abs_floor: f64,
}

/// Iterates and scratch space; buffers grow but never shrink.
#[derive(Debug, Clone, Default)]
pub struct FistaState {
    pub x: Vec<f64>,
    pub(crate) y: Vec<f64>,
    pub(crate) grad: Vec<f64>,
    pub(crate) work: Vec<f64>,
    pub t: f64,
    pub iteration: u32,
    pub converged: bool,
}

impl FistaState {
    /// Size the buffers for n samples and start from zero activity. Only `x` is allocated: the
    /// extrapolated point, gradient and scratch are made by the first FISTA step (an empty `y`
    /// means `y = x`), so a caller that never steps (the exact solver) does not hold them.
    pub fn reset(&mut self, n: usize) {
        // A fresh zeroed allocation: its pages are not touched (resident) until written, so an
        // `x` that the exact solver replaces whole never costs memory.
        self.x = vec![0.0; n];
        self.drop_momentum_buffers();
        self.t = 1.0;
        self.iteration = 0;
        self.converged = false;
    }

    /// Start from `x0` (warm start): momentum and counters are reset.
    pub fn warm_start(&mut self, x0: &[f64]) {
        self.reset(x0.len());
        self.x.copy_from_slice(x0);
    }

    /// [`FistaState::warm_start`] taking ownership of `x0` (no copy).
    pub fn warm_start_owned(&mut self, x0: Vec<f64>) {
        self.reset(0);
        self.x = x0;
    }

    /// Drop the momentum but keep the iterate (after a parameter change).
    pub fn reset_momentum(&mut self) {
        self.y.clear();
        self.t = 1.0;
        self.converged = false;
        self.iteration = 0;
    }

    fn drop_momentum_buffers(&mut self) {
        self.y.clear();
        self.grad.clear();
        self.work.clear();
    }

    /// Materialise `y` (= x when empty), `grad` and `work` for n samples.
    fn ensure_buffers(&mut self) {
        let n = self.x.len();
        if self.y.len() != n {
            self.y.clear();
            self.y.extend_from_slice(&self.x);
        }
        for v in [&mut self.grad, &mut self.work] {
            v.resize(n, 0.0);
        }
    }
}

/// Gradient of 1/2 ||P (y - K s)||^2 at `s` into `grad`; `work` receives the centred residual.
pub(crate) fn gradient(
    op: &mut ConvOperator,
    trace: &[f64],
    s: &[f64],
    work: &mut [f64],
    grad: &mut [f64],
) {
    op.forward(s, work);
    let n = trace.len() as f64;
    let mut mean = 0.0;
    for (w, yv) in work.iter_mut().zip(trace) {
        *w = yv - *w;
        mean += *w;
    }
    mean /= n;
    for w in work.iter_mut() {
        *w -= mean;
    }
    op.adjoint(work, grad);
    for g in grad.iter_mut() {
        *g = -*g;
    }
}

fn prox(v: f64, cfg: &FistaConfig) -> f64 {
    match cfg.constraint {
        Constraint::NonNeg => (v - cfg.step * cfg.l1_weight).max(0.0),
        Constraint::Box01 => v.clamp(0.0, 1.0),
    }
}

/// The accelerated step shared by every FISTA loop in the crate: given the new iterate `x_new`,
/// move `x` to it and set the extrapolated point `z = x_new + beta (x_new - x_old)`; returns the
/// next momentum parameter t. `restart_dot` is (z_old - x_new) . (x_new - x_old): when positive
/// the momentum points uphill, so it is dropped (gradient restart, O'Donoghue & Candes 2015).
pub(crate) fn momentum_step(
    restart_dot: f64,
    t: f64,
    x_new: &[f64],
    x: &mut [f64],
    z: &mut [f64],
) -> f64 {
    let (t_next, beta) = if restart_dot > 0.0 {
        (1.0, 0.0)
    } else {
        let t_next = 0.5 * (1.0 + (1.0 + 4.0 * t * t).sqrt());
        (t_next, (t - 1.0) / t_next)
    };
    for ((xv, zv), &xn) in x.iter_mut().zip(z.iter_mut()).zip(x_new) {
        *zv = xn + beta * (xn - *xv);
        *xv = xn;
    }
    t_next
}

/// Run up to `n_steps` iterations; returns whether the iterate has converged.
pub fn step_batch(
    state: &mut FistaState,
    op: &mut ConvOperator,
    trace: &[f64],
    cfg: &FistaConfig,
    n_steps: u32,
) -> bool {
    if state.converged {
        return true;
    }
    let n = trace.len();
    if n == 0 {
        state.converged = true;
        return true;
    }
    state.ensure_buffers();
    for _ in 0..n_steps {
        let FistaState {
            x, y, grad, work, ..
        } = state;
        gradient(op, trace, y, work, grad);
        // work <- new iterate; accumulate the restart test and the change norms on the way.
        let (mut restart_dot, mut diff_sq, mut x_sq) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let xn = prox(y[i] - cfg.step * grad[i], cfg);
            let dx = xn - x[i];
            restart_dot += (y[i] - xn) * dx;
            diff_sq += dx * dx;
            x_sq += x[i] * x[i];
            work[i] = xn;
        }
        state.iteration += 1;
        state.t = momentum_step(
            restart_dot,
            state.t,
            &state.work,
            &mut state.x,
            &mut state.y,
        );
        if state.iteration >= MIN_ITERS_BEFORE_CHECK {
            let change = diff_sq.sqrt();
            let scale = x_sq.sqrt();
            if change <= cfg.tol * scale || change <= cfg.abs_floor {
                state.converged = true;
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::KernelParams;
    use crate::operator::ConvMode;

    #[test]
    fn recovers_isolated_spikes_without_noise() {
        let p = KernelParams::new(0.02, 0.4, 30.0).unwrap();
        let n = 600;
        let mut truth = vec![0.0; n];
        for &i in &[50usize, 200, 201, 400] {
            truth[i] = 2.0;
        }
        let mut op = ConvOperator::new(ConvMode::Banded, &p, n);
        let mut y = vec![0.0; n];
        op.forward(&truth, &mut y);
        y.iter_mut().for_each(|v| *v += 5.0);
        let ar = crate::kernel::Ar2::from_params(&p);
        let cfg = FistaConfig {
            step: 1.0 / (ar.dc_gain * ar.dc_gain),
            l1_weight: 1e-4 * ar.dc_gain,
            constraint: Constraint::NonNeg,
            tol: 1e-9,
            abs_floor: 0.0,
        };
        let mut st = FistaState::default();
        st.reset(n);
        let mut done = false;
        for _ in 0..200 {
            done = step_batch(&mut st, &mut op, &y, &cfg, 100);
            if done {
                break;
            }
        }
        assert!(done);
        for &i in &[50usize, 400] {
            assert!((st.x[i] - 2.0).abs() < 0.05, "{}", st.x[i]);
        }
        assert!(st.x.iter().all(|v| *v >= 0.0));
    }
}
