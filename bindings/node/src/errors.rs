//! Core errors and panics as JS exceptions.

use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::{Error, Status};

/// A core error as a JS `Error` with the core's message, which names the file, tensor or field.
/// Its `code` is `InvalidArg` when the caller's input is at fault (arguments, files, configs,
/// checkpoints) and `GenericFailure` for a failure inside a tensor operation.
pub fn core_error(e: lgpo_core::Error) -> Error {
    let status = match &e {
        lgpo_core::Error::Candle(_) => Status::GenericFailure,
        _ => Status::InvalidArg,
    };
    Error::new(status, e.to_string())
}

/// An `InvalidArg` error with `message`.
pub fn invalid(message: impl Into<String>) -> Error {
    Error::new(Status::InvalidArg, message.into())
}

/// Runs `f`, turning a panic into an `Error` instead of unwinding into Node.
pub fn guard<T>(f: impl FnOnce() -> napi::Result<T>) -> napi::Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(Error::new(Status::GenericFailure, format!("internal error in lgpo-core (panic): {message}")))
    })
}

/// Panics inside the guard: lets the test-suite check that a Rust panic reaches JS as an
/// exception. Not part of the SDK.
#[napi_derive::napi(js_name = "_debugPanic")]
pub fn debug_panic(message: String) -> napi::Result<()> {
    guard(|| panic!("{message}"))
}
