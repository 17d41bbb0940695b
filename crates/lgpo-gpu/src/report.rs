//! Results of the checks and benchmarks: comparison errors, JSON files, console tables.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::Serialize;

use lgpo_core::Result;

/// One comparison: a computed value against its reference.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// What was compared (`fused_logprob bf16 dL/dW`, `tiny_tied f32 grad model.norm.weight`).
    pub name: String,
    /// ‖value − reference‖₂ / ‖reference‖₂ (infinite when either holds a NaN or an infinity).
    pub error: f64,
    /// The largest error that passes.
    pub tolerance: f64,
    pub passed: bool,
}

/// The comparisons of a run, in order.
#[derive(Debug, Default, Serialize)]
pub struct Comparisons {
    pub results: Vec<Comparison>,
}

impl Comparisons {
    /// Compares `value` with `reference` (any devices and float dtypes, same shape) and records
    /// the result; prints failures at once.
    pub fn compare(
        &mut self,
        name: impl Into<String>,
        value: &Tensor,
        reference: &Tensor,
        tolerance: f64,
    ) -> Result<()> {
        let name = name.into();
        if value.dims() != reference.dims() {
            lgpo_core::bail_input!("{name}: shapes {:?} and {:?} differ", value.dims(), reference.dims());
        }
        let error = relative_error(value, reference)?;
        self.record(name, error, tolerance);
        Ok(())
    }

    /// Records an error computed elsewhere.
    pub fn record(&mut self, name: impl Into<String>, error: f64, tolerance: f64) {
        let name = name.into();
        let passed = error <= tolerance;
        if !passed {
            eprintln!("FAILED {name}: relative error {error:.3e} > {tolerance:.1e}");
        }
        self.results.push(Comparison { name, error, tolerance, passed });
    }

    /// Whether every comparison passed (and there was at least one).
    pub fn all_passed(&self) -> bool {
        !self.results.is_empty() && self.results.iter().all(|c| c.passed)
    }

    /// A console table of the results, failures marked.
    pub fn table(&self) -> String {
        let width = self.results.iter().map(|c| c.name.len()).max().unwrap_or(4).max(4);
        let mut out = format!("{:<width$}  {:>10}  {:>9}  result\n", "check", "rel. error", "tolerance");
        for c in &self.results {
            let verdict = if c.passed { "ok" } else { "FAILED" };
            out += &format!("{:<width$}  {:>10.3e}  {:>9.1e}  {verdict}\n", c.name, c.error, c.tolerance);
        }
        out
    }
}

/// ‖a − b‖₂ / ‖b‖₂ in f64 on the CPU; infinite when a value is not finite. Equal to 0 when both
/// are zero.
pub fn relative_error(a: &Tensor, b: &Tensor) -> Result<f64> {
    let host = |t: &Tensor| -> Result<Vec<f64>> {
        Ok(t.to_device(&Device::Cpu)?.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?)
    };
    let (a, b) = (host(a)?, host(b)?);
    if a.iter().chain(&b).any(|v| !v.is_finite()) {
        return Ok(f64::INFINITY);
    }
    let diff: f64 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
    let norm: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    Ok(if diff == 0.0 { 0.0 } else { diff / norm.max(f64::MIN_POSITIVE) })
}

/// Writes `value` as pretty JSON to `path` atomically (a temporary file renamed into place).
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("reports serialise");
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let io = |source| lgpo_core::Error::Io { path: path.to_path_buf(), source };
    std::fs::write(&tmp, text + "\n").map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_and_verdicts() -> Result<()> {
        let b = Tensor::new(&[3f32, 4.0], &Device::Cpu)?;
        let a = Tensor::new(&[3f32, 4.5], &Device::Cpu)?;
        assert!((relative_error(&a, &b)? - 0.1).abs() < 1e-12);
        assert_eq!(relative_error(&b, &b)?, 0.0);
        let nan = Tensor::new(&[f32::NAN, 4.0], &Device::Cpu)?;
        assert_eq!(relative_error(&nan, &b)?, f64::INFINITY);
        let mut c = Comparisons::default();
        assert!(!c.all_passed(), "no comparison is no pass");
        c.compare("close", &a, &b, 0.2)?;
        assert!(c.all_passed());
        c.compare("far", &a, &b, 0.05)?;
        c.compare("nan", &nan, &b, 1.0)?;
        assert!(!c.all_passed());
        assert!(c.table().contains("far") && c.table().contains("FAILED"));
        assert!(c.compare("shape", &a, &Tensor::new(&[1f32], &Device::Cpu)?, 1.0).is_err());
        Ok(())
    }
}
