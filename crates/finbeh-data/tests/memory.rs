//! Memory of `load_dataset` with one long field early in the file: it must follow the data kept,
//! not rows × the longest field. The test runs itself again as a child process under an address
//! space limit (`ulimit -v`, i.e. RLIMIT_AS); a load that needs more memory fails there.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::Command;

use finbeh_data::{DataParams, load_dataset};

/// Field length of the long note.
const LONG_FIELD: usize = 1_000_000;
/// Address space the child may use, in KiB (`ulimit -v`). Before the fix the inference sample
/// kept a copy of the 1 MB record buffer per row and needed 2.05 GB.
const ADDRESS_SPACE_KIB: u64 = 64 * 1024;
/// Set in the child: the file to load.
const CHILD_ENV: &str = "FINBEH_MEMORY_TEST_FILE";

fn write_file(path: &Path) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(file, "amount,kind,note,y").unwrap();
    for row in 0..1_000u32 {
        // Line 5 (the 4th data row) carries the 1 MB note.
        let note = if row == 3 {
            "x".repeat(LONG_FIELD)
        } else {
            format!("note {row}")
        };
        let kind = ["a", "b", "c"][(row % 3) as usize];
        writeln!(file, "{}.5,{kind},{note},{}", row % 97, row % 2).unwrap();
    }
    file.into_inner().unwrap().sync_all().unwrap();
}

/// Peak resident memory of this process in KiB (Linux), for the record.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn load_in_child(path: &Path) {
    let params = DataParams::default().with_target("y").check().unwrap();
    let before = peak_rss_kib();
    let data = load_dataset(path, &params).unwrap();
    assert_eq!(data.table.n_rows(), 1_000);
    assert_eq!(data.report.lines_read, 1_001);
    println!(
        "child peak RSS: before load {before:?} KiB, after load {:?} KiB",
        peak_rss_kib()
    );
}

#[test]
fn a_long_field_early_in_the_file_costs_memory_once() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        load_in_child(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long_field.csv");
    write_file(&path);
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(&exe)
        .args([
            "--exact",
            "a_long_field_early_in_the_file_costs_memory_once",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("child peak RSS"),
        "loading a 1,000-row file with a 1 MB field at line 5 failed within {ADDRESS_SPACE_KIB} KiB of address space: {}\n{stdout}\n{stderr}",
        output.status
    );
}
