//! Helpers of lgpo's criterion benches (`benches/*.rs`): the peak memory of one variant of a
//! bench, measured in a child process so that variants do not share a high-water mark.
//!
//! The bench binary re-executes itself with [`CHILD_VARIANT`] set; the child builds its inputs,
//! calls [`ChildMemory::start`] (which resets the peak), runs the variant once and prints
//! [`ChildMemory::report`]; the parent reads that line back ([`measure_in_child`]).

use std::process::Command;

/// Environment variable naming the variant that a re-executed bench binary runs.
pub const CHILD_VARIANT: &str = "LGPO_BENCH_CHILD";

const REPORT_PREFIX: &str = "lgpo-bench-memory";

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`, ...), on Linux.
pub fn proc_status_bytes(field: &str) -> Option<u64> {
    parse_status_kib(&std::fs::read_to_string("/proc/self/status").ok()?, field).map(|kib| kib * 1024)
}

fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.split(':').next() == Some(field))?;
    let value = line.split(':').nth(1)?.trim();
    value.strip_suffix("kB")?.trim().parse().ok()
}

/// Memory of one child run, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct ChildMemory {
    /// Resident set once the inputs exist, before the variant runs.
    pub inputs_rss: u64,
    /// Peak resident set of the whole child process (`VmHWM`).
    pub peak_rss: u64,
}

impl ChildMemory {
    /// Call in the child once its inputs are built: resets the peak (writing 5 to
    /// `/proc/self/clear_refs`, Linux ≥ 4.0) so that building the inputs does not count, and
    /// returns the resident set.
    pub fn start() -> u64 {
        if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
            eprintln!("cannot reset the peak RSS ({e}): it includes building the inputs");
        }
        proc_status_bytes("VmRSS").unwrap_or(0)
    }

    /// Call in the child after the variant ran: prints the line the parent parses.
    pub fn report(inputs_rss: u64) {
        let peak = proc_status_bytes("VmHWM").unwrap_or(0);
        println!("{REPORT_PREFIX} inputs_rss={inputs_rss} peak_rss={peak}");
    }

    fn parse(stdout: &str) -> Option<Self> {
        let line = stdout.lines().find(|l| l.starts_with(REPORT_PREFIX))?;
        let field = |name: &str| -> Option<u64> {
            line.split_whitespace().find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        };
        Some(ChildMemory { inputs_rss: field("inputs_rss")?, peak_rss: field("peak_rss")? })
    }
}

/// Runs this binary again with [`CHILD_VARIANT`]` = variant` and returns the child's report.
pub fn measure_in_child(variant: &str) -> Result<ChildMemory, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe).env(CHILD_VARIANT, variant).output().map_err(|e| format!("spawn: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("{variant}: child exited with {} ({})", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    ChildMemory::parse(&stdout).ok_or_else(|| format!("{variant}: no memory report in the child's output"))
}

/// Bytes as MiB for tables.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status_and_reports() {
        let status = "Name:\tbench\nVmHWM:\t  123456 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(123_456));
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(2048));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        let report = ChildMemory::parse("noise\nlgpo-bench-memory inputs_rss=10 peak_rss=20\n").unwrap();
        assert_eq!((report.inputs_rss, report.peak_rss), (10, 20));
        if cfg!(target_os = "linux") {
            assert!(proc_status_bytes("VmHWM").unwrap() >= proc_status_bytes("VmRSS").unwrap() / 2);
        }
    }
}
