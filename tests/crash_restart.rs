//! `kill -9` mid-stream, then restart: no line lost, duplicates at most one
//! batch. And SIGTERM: flush, checkpoint, exit 0, resume without duplicates.

mod support;

use std::io::Write;
use std::time::Duration;

use support::*;

const BATCH: u64 = 500; // test_config's batch_max_records

fn write_cri_lines(path: &std::path::Path, range: std::ops::Range<u64>) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut text = String::new();
    for seq in range {
        text += &cri_line(
            "stdout",
            "F",
            &format!("{{\"message\":\"scheduled seq={seq}\",\"mrn\":\"MRN-{seq:07}\"}}"),
        );
    }
    file.write_all(text.as_bytes()).unwrap();
}

#[test]
fn kill_9_mid_stream_then_restart_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let log = cri_log(
        tmp.path(),
        "scheduling",
        "appointment-service-5c8d7-abcde",
        "uid-1",
        "appointment",
    );
    let total = 60_000;
    let config = test_config(
        tmp.path(),
        &[format!("{}/var/log/pods/*/*/*.log", tmp.path().display())],
        &tmp.path().join("data"),
        "",
    );
    // A writer that keeps appending while the agent is killed and restarted.
    let writer_log = log.clone();
    let writer = std::thread::spawn(move || {
        for chunk in 0..60 {
            write_cri_lines(&writer_log, chunk * 1000..(chunk + 1) * 1000);
            std::thread::sleep(Duration::from_millis(25));
        }
    });
    let first = Agent::with_config(&config);
    first.wait_for(Duration::from_secs(30), "some records", |r| {
        r.len() >= 10_000
    });
    let before = first.kill9();
    let second = Agent::with_config(&config);
    writer.join().unwrap();
    second.wait_for(Duration::from_secs(60), "the rest", |r| {
        let mut seen = sequence_numbers(&before);
        seen.extend(sequence_numbers(r));
        seen.sort_unstable();
        seen.dedup();
        seen.len() as u64 >= total
    });
    let after = second.records();
    let mut all = sequence_numbers(&before);
    all.extend(sequence_numbers(&after));
    let duplicates = assert_all_seen(&all, total, "kill -9 and restart");
    eprintln!(
        "killed after {} records; {duplicates} duplicates",
        before.len()
    );
    assert!(
        duplicates <= BATCH,
        "{duplicates} duplicates, more than one batch ({BATCH})"
    );
    assert!(
        !serde_json::to_string(&after).unwrap().contains("MRN-0"),
        "MRN reached stdout"
    );
    let (status, _, _) = second.terminate();
    assert!(status.success());
}

#[test]
fn sigterm_flushes_checkpoints_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let log = cri_log(tmp.path(), "pharmacy", "dispense-0", "uid-2", "dispense");
    write_cri_lines(&log, 0..5_000);
    let config = test_config(
        tmp.path(),
        &[format!("{}/var/log/pods/*/*/*.log", tmp.path().display())],
        &tmp.path().join("data"),
        "",
    );
    let first = Agent::with_config(&config);
    first.wait_for(Duration::from_secs(30), "all records", |r| r.len() >= 5_000);
    let (status, before, stderr) = first.terminate();
    assert!(status.success(), "exit status {status}: {stderr}");
    assert!(
        !stderr.contains("MRN-"),
        "the agent's own logs must not carry record content"
    );

    write_cri_lines(&log, 5_000..6_000);
    let second = Agent::with_config(&config);
    second.wait_for(Duration::from_secs(30), "new records", |r| r.len() >= 1_000);
    std::thread::sleep(Duration::from_millis(300));
    let (status, after, _) = second.terminate();
    assert!(status.success());
    let mut all = sequence_numbers(&before);
    all.extend(sequence_numbers(&after));
    let duplicates = assert_all_seen(&all, 6_000, "SIGTERM and restart");
    assert_eq!(duplicates, 0, "a clean stop checkpoints everything");
}
