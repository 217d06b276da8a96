//! Rotation while a writer appends at about 10k lines/s: every line arrives.

mod support;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

const LINES: u64 = 30_000;
const LINES_PER_MS: u64 = 10;

/// Appends `seq=N` lines at ~10k lines/s; `rotate` runs under the writer's
/// lock at the given line numbers, as a logrotate run with the app paused
/// between the copy and the truncation would.
fn write_with_rotations(path: &Path, at: &[u64], rotate: impl Fn(&Path, &mut File)) {
    let file = Arc::new(Mutex::new(open_append(path)));
    let start = Instant::now();
    for seq in 0..LINES {
        let mut f = file.lock().unwrap();
        writeln!(
            f,
            "2024-05-06 07:08:09.123 INFO appointment booked for slot seq={seq} room=7"
        )
        .unwrap();
        if at.contains(&seq) {
            rotate(path, &mut f);
        }
        drop(f);
        // Pace: LINES_PER_MS lines per millisecond.
        let due = Duration::from_millis(seq / LINES_PER_MS);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

fn run_case(glob_suffix: &str, rotate: impl Fn(&Path, &mut File) + Send + 'static) -> (u64, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    let log: PathBuf = dir.join("app.log");
    append(&log, "");
    let config = test_config(
        tmp.path(),
        &[format!("{}/app.log{glob_suffix}", dir.display())],
        &tmp.path().join("data"),
        "",
    );
    let agent = Agent::with_config(&config);
    agent.wait_ready();
    let writer =
        std::thread::spawn(move || write_with_rotations(&log, &[8_000, 16_000, 24_000], rotate));
    writer.join().unwrap();
    agent.wait_for(Duration::from_secs(60), "every line", |records| {
        let seen = sequence_numbers(records);
        let mut all = vec![false; LINES as usize];
        seen.iter()
            .filter(|&&s| s < LINES)
            .for_each(|&s| all[s as usize] = true);
        all.iter().all(|&b| b)
    });
    let records = agent.records();
    let duplicates = assert_all_seen(&sequence_numbers(&records), LINES, "rotation");
    let rotated = agent.metric("wardwatch_logs_files_rotated_total");
    let truncated = agent.metric("wardwatch_logs_files_truncated_total");
    let (status, _, stderr) = agent.terminate();
    assert!(status.success(), "{stderr}");
    eprintln!(
        "rotation{glob_suffix}: {duplicates} duplicates, rotated={rotated} truncated={truncated}"
    );
    (rotated as u64, truncated as u64)
}

#[test]
fn rename_rotation_loses_no_line() {
    // Only `app.log` is followed: a renamed file is finished through its
    // open descriptor, then the new file is followed.
    let (rotated, _) = run_case("", |path, file| {
        let n = (1..)
            .find(|n| !path.with_extension(format!("log.{n}")).exists())
            .unwrap();
        std::fs::rename(path, path.with_extension(format!("log.{n}"))).unwrap();
        *file = open_append(path);
    });
    assert!(rotated >= 3, "renames seen: {rotated}");
}

#[test]
fn copytruncate_rotation_loses_no_line() {
    // logrotate's copytruncate with `rotate N`: shift the old copies, copy,
    // truncate. The copies match the glob, so the lines the agent had not
    // read before the truncation are read from the copy.
    let (_, truncated) = run_case("*", |path, _file| {
        let copy = |n: u32| path.with_extension(format!("log.{n}"));
        for n in (1..4).rev() {
            if copy(n).exists() {
                std::fs::rename(copy(n), copy(n + 1)).unwrap();
            }
        }
        std::fs::copy(path, copy(1)).unwrap();
        OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(0)
            .unwrap();
    });
    assert!(truncated >= 3, "truncations seen: {truncated}");
}
