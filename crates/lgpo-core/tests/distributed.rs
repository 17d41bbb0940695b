//! Data-parallel training over MPI: 2 ranks, each on half of every minibatch, take the optimizer
//! steps of one process on the whole minibatches (`lgpo-dp-check` under `mpirun -np 2`; its docs
//! give the tolerances). Needs the `mpi` feature and Open MPI's `mpirun` (`npm test` enables the
//! feature where `mpicc` is installed; CI installs Open MPI). Elsewhere the test says it skipped,
//! except under `CI=true`, where it fails.

mod common;

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

#[cfg(not(feature = "mpi"))]
#[test]
fn two_mpi_ranks_take_the_single_process_steps() {
    assert!(
        !ci(),
        "CI=true: build the tests with `--features lgpo-core/mpi` (scripts/test.mjs does where mpicc exists)"
    );
    common::skipped("built without the `mpi` feature (install Open MPI: openmpi-bin libopenmpi-dev libclang-dev)");
}

#[cfg(feature = "mpi")]
#[test]
fn two_mpi_ranks_take_the_single_process_steps() {
    use std::process::Command;

    let model = common::fixtures_dir().join("tiny_tied");
    let out = Command::new("mpirun")
        .args(["-np", "2", "--oversubscribe", env!("CARGO_BIN_EXE_lgpo-dp-check")])
        .arg(&model)
        // Containers and CI run as root; one compute thread per rank on a small machine.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("RAYON_NUM_THREADS", "1")
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !ci() => {
            return common::skipped("mpirun not found (install openmpi-bin)");
        }
        Err(e) => panic!("cannot run mpirun: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "lgpo-dp-check failed ({}):\n{stdout}\n{stderr}", out.status);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line from rank 0");
    assert_eq!(report["ranks"], 2, "{report}");
    assert_eq!(report["passed"], true, "{report}");
    println!("{report}");
}
