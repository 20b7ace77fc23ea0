//! Thin binding layers, compiled only with their feature. They convert types and errors and
//! forward to the core; no numerics live here.

#[cfg(feature = "python")]
pub mod python;
#[cfg(feature = "wasm")]
pub mod wasm;
