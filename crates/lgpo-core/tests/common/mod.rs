//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use candle_core::Tensor;

/// Root of the repository (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Committed golden fixtures of this crate.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A file of the shared reference data (`LGPO_DATA_DIR`, default `../shared/data` beside the
/// repository). When it is absent the test is skipped with a message, except under `CI=true`,
/// where a missing data file is a failure.
pub fn data_file(relative: &str) -> Option<PathBuf> {
    let dir =
        std::env::var_os("LGPO_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("../shared/data"));
    let path = dir.join(relative);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("reference data {} is missing (CI=true: set LGPO_DATA_DIR or provide ../shared/data)", path.display());
    }
    skipped(&format!("reference data {} is absent (set LGPO_DATA_DIR to run this test)", path.display()));
    None
}

/// Reports a skipped test: on stderr (hidden by cargo's capture unless it fails) and, when
/// `LGPO_SKIP_LOG` names a file, as a line appended to it, which `npm test` prints at the end.
pub fn skipped(reason: &str) {
    eprintln!("SKIPPED: {reason}");
    if let Some(log) = std::env::var_os("LGPO_SKIP_LOG") {
        use std::io::Write;
        let test = std::thread::current().name().unwrap_or("?").to_string();
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(f, "{test}: {reason}");
        }
    }
}

/// ‖a − b‖ / ‖b‖ of two f32 tensors of one shape.
pub fn relative_difference(a: &Tensor, b: &Tensor) -> f64 {
    let norm = |t: &Tensor| t.sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f32>().unwrap() as f64;
    norm(&(a - b).unwrap()) / norm(b).max(1e-30)
}
