//! Cooperative cancellation and progress for long calls, without threading a token through every
//! solver signature.
//!
//! A binding that runs work on behalf of a caller who may give up (Ctrl-C in Python) wraps it in
//! [`with_progress`]. The [`Progress`] is installed in a thread-local for the duration, and
//! [`crate::rows::map_rows`] carries it into the worker threads it fans out to, so any loop in the
//! core can ask [`cancelled`] (cheap: one relaxed load) and stop early, and report its share of
//! the work with [`part_done`]. Work outside `with_progress` (the browser, Rust callers) sees no
//! token: `cancelled()` is false and reports go nowhere. Results of a cancelled call are
//! discarded by the caller, so an early stop only needs to end the work, not keep it consistent.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Units of progress per row (a row's own loops report fractions of it).
pub const UNITS_PER_ROW: u64 = 1000;

/// Shared between the caller and every thread working for it.
#[derive(Debug, Default)]
pub struct Progress {
    cancelled: AtomicBool,
    done: AtomicU64,
}

impl Progress {
    pub fn new() -> Arc<Self> {
        Arc::new(Progress::default())
    }

    /// Ask the work to stop at its next check.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Work done so far, in [`UNITS_PER_ROW`] per row.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Progress>>> = const { RefCell::new(None) };
    /// Units already reported for the row this thread is working on.
    static ROW_UNITS: Cell<u64> = const { Cell::new(0) };
}

/// Run `work` with `progress` as this thread's token (restored afterwards, also on panic).
pub fn with_progress<T>(progress: Option<Arc<Progress>>, work: impl FnOnce() -> T) -> T {
    struct Restore(Option<Arc<Progress>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let prev = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), progress));
    let _restore = Restore(prev);
    work()
}

/// This thread's token, to hand to the threads it starts.
pub fn current() -> Option<Arc<Progress>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Whether the caller has given up on the current work.
pub fn cancelled() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|p| p.is_cancelled()))
}

/// One row of a batch, run under `progress`: afterwards the row counts as fully done.
pub fn row<T>(progress: &Option<Arc<Progress>>, work: impl FnOnce() -> T) -> T {
    ROW_UNITS.with(|u| u.set(0));
    let out = with_progress(progress.clone(), work);
    if let Some(p) = progress {
        let reported = ROW_UNITS.with(|u| u.get());
        p.done
            .fetch_add(UNITS_PER_ROW.saturating_sub(reported), Ordering::Relaxed);
    }
    out
}

/// Report that `k` of the `n` parts of the current row are done (monotone within a row).
pub fn part_done(k: usize, n: usize) {
    if n == 0 {
        return;
    }
    CURRENT.with(|c| {
        if let Some(p) = c.borrow().as_ref() {
            let target = (UNITS_PER_ROW * k.min(n) as u64 / n as u64).min(UNITS_PER_ROW - 1);
            ROW_UNITS.with(|u| {
                if target > u.get() {
                    p.done.fetch_add(target - u.get(), Ordering::Relaxed);
                    u.set(target);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_token_means_never_cancelled() {
        assert!(!cancelled());
        part_done(1, 2); // goes nowhere
        assert!(current().is_none());
    }

    #[test]
    fn rows_and_parts_add_up_and_cancel_is_seen() {
        let p = Progress::new();
        let some = Some(p.clone());
        row(&some, || {
            part_done(1, 4);
            part_done(1, 4); // not counted twice
            assert_eq!(p.done(), UNITS_PER_ROW / 4);
            assert!(!cancelled());
            p.cancel();
            assert!(cancelled());
        });
        assert_eq!(p.done(), UNITS_PER_ROW);
        row(&some, || part_done(3, 3));
        assert_eq!(p.done(), 2 * UNITS_PER_ROW);
        assert!(current().is_none(), "the token does not outlive the call");
    }

    #[test]
    fn restored_after_a_panic() {
        let p = Progress::new();
        let r = std::panic::catch_unwind(|| with_progress(Some(p.clone()), || panic!("x")));
        assert!(r.is_err());
        assert!(current().is_none());
    }
}
