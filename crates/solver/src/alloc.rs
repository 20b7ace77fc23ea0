//! Fallible allocation for buffers whose size the caller controls.
//!
//! A failed allocation in Rust aborts the whole process (a Python kernel or a browser tab dies
//! with it). The buffers whose size follows from the input (trace count x length, or a length
//! derived from the sampling rate) are therefore allocated here with `try_reserve`, and the entry
//! points that are about to allocate several of them first [`probe`] the total, so running out of
//! memory becomes [`SolverError::OutOfMemory`] instead of an abort. Small, fixed-size buffers keep
//! using `vec!`.

use crate::error::{Result, SolverError};

/// Bytes taken by `n` values of `T`, without overflow.
pub fn bytes_of<T>(n: usize) -> u128 {
    n as u128 * std::mem::size_of::<T>() as u128
}

fn oom(what: &str, bytes: u128) -> SolverError {
    SolverError::OutOfMemory {
        what: what.to_string(),
        bytes,
    }
}

/// `vec![value; n]`, or [`SolverError::OutOfMemory`] naming `what` when it cannot be allocated.
pub fn try_vec<T: Clone>(n: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| oom(what, bytes_of::<T>(n)))?;
    v.resize(n, value);
    Ok(v)
}

/// Number types whose all-zero bit pattern is the value 0, so a zeroed allocation is a valid
/// vector of zeros.
pub trait Zeroed: Copy {}
impl Zeroed for f64 {}
impl Zeroed for f32 {}
impl Zeroed for u32 {}

/// `vec![0; n]` (fallible): a fresh zeroed allocation, whose pages the operating system maps
/// only when written, so an output buffer filled row by row costs memory only as the rows land
/// (where [`try_vec`] writes every element up front). [`SolverError::OutOfMemory`] names `what`.
pub fn try_zeros<T: Zeroed>(n: usize, what: &str) -> Result<Vec<T>> {
    if n == 0 || std::mem::size_of::<T>() == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<T>(n).map_err(|_| oom(what, bytes_of::<T>(n)))?;
    // SAFETY: the layout has a non-zero size (n > 0, T not zero-sized); a null return is handled;
    // the memory is zeroed, which `Zeroed` guarantees is a valid T, so all n elements are
    // initialised; the pointer comes from the global allocator with T's layout, as
    // `Vec::from_raw_parts` requires for capacity n.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout) as *mut T;
        if ptr.is_null() {
            return Err(oom(what, bytes_of::<T>(n)));
        }
        Ok(Vec::from_raw_parts(ptr, n, n))
    }
}

/// `Vec::with_capacity(n)`, fallible.
pub fn try_with_capacity<T>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| oom(what, bytes_of::<T>(n)))?;
    Ok(v)
}

/// `a * b` elements, or [`SolverError::OutOfMemory`] when the count does not fit in `usize`.
pub fn checked_len(a: usize, b: usize, what: &str) -> Result<usize> {
    a.checked_mul(b)
        .ok_or_else(|| oom(what, a as u128 * b as u128 * 8))
}

/// Check that `bytes` can be allocated right now by reserving (not touching) and releasing
/// them. Call before work that will allocate about that much in many pieces, so a shortfall is
/// reported up front rather than as an abort half-way through.
pub fn probe(bytes: u128, what: &str) -> Result<()> {
    let n = usize::try_from(bytes).map_err(|_| oom(what, bytes))?;
    if n > isize::MAX as usize {
        return Err(oom(what, bytes));
    }
    let mut v: Vec<u8> = Vec::new();
    v.try_reserve_exact(n).map_err(|_| oom(what, bytes))?;
    drop(v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_sizes_are_errors_not_aborts() {
        let e = try_vec(usize::MAX / 2, 0.0f64, "the test buffer").unwrap_err();
        assert_eq!(e.code(), "OUT_OF_MEMORY");
        assert!(e.to_string().contains("the test buffer"), "{e}");
        assert_eq!(probe(u128::MAX, "x").unwrap_err().code(), "OUT_OF_MEMORY");
        assert_eq!(
            probe(isize::MAX as u128 + 1, "x").unwrap_err().code(),
            "OUT_OF_MEMORY"
        );
        assert!(checked_len(usize::MAX, 2, "x").is_err());
        assert!(try_with_capacity::<f64>(usize::MAX / 4, "x").is_err());
        let e = try_zeros::<f64>(usize::MAX / 2, "the zeroed buffer").unwrap_err();
        assert_eq!(e.code(), "OUT_OF_MEMORY");
        assert!(e.to_string().contains("the zeroed buffer"), "{e}");
        assert_eq!(
            try_zeros::<f32>(isize::MAX as usize / 2, "x")
                .unwrap_err()
                .code(),
            "OUT_OF_MEMORY"
        );
    }

    #[test]
    fn zeroed_vectors_are_zeros_and_writable() {
        let mut v = try_zeros::<f64>(1000, "x").unwrap();
        assert_eq!(v.len(), 1000);
        assert!(v.iter().all(|x| *x == 0.0 && x.is_sign_positive()));
        v[999] = 2.0;
        v.push(3.0); // a real Vec: it can grow and is freed normally
        assert_eq!(&v[998..], &[0.0, 2.0, 3.0]);
        assert_eq!(try_zeros::<u32>(4, "x").unwrap(), vec![0u32; 4]);
        assert!(try_zeros::<f32>(0, "x").unwrap().is_empty());
    }

    #[test]
    fn possible_sizes_work() {
        assert_eq!(try_vec(3, 1.5f64, "x").unwrap(), vec![1.5; 3]);
        assert!(probe(1 << 20, "x").is_ok());
        assert_eq!(checked_len(3, 4, "x").unwrap(), 12);
        assert_eq!(bytes_of::<f64>(4), 32);
    }
}
