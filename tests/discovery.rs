//! Discovery: new files are picked up while running, deleted ones released,
//! excludes honoured, `read_from: end` skips only what was there at start,
//! and a reused inode does not make a new file look read.

mod support;

use std::time::Duration;

use support::*;

#[test]
fn new_files_are_followed_and_deleted_ones_released() {
    let tmp = tempfile::tempdir().unwrap();
    let config = test_config(
        tmp.path(),
        &[format!("{}/var/log/pods/*/*/*.log", tmp.path().display())],
        &tmp.path().join("data"),
        "",
    );
    let agent = Agent::with_config(&config);
    agent.wait_ready();
    // A pod scheduled after the agent started.
    let log = cri_log(tmp.path(), "lab", "results-0", "uid-9", "results");
    append(&log, &cri_line("stdout", "F", "first seq=0"));
    agent.wait_for(Duration::from_secs(10), "the new file's line", |r| {
        !r.is_empty()
    });
    agent.wait_metric("wardwatch_logs_files_watched", |v| v == 1.0);
    // The pod goes away: its log is deleted, read to its end, then released.
    append(&log, &cri_line("stdout", "F", "last seq=1"));
    std::fs::remove_file(&log).unwrap();
    agent.wait_for(Duration::from_secs(10), "the last line", |r| r.len() >= 2);
    agent.wait_metric("wardwatch_logs_files_watched", |v| v == 0.0);
    assert_all_seen(&sequence_numbers(&agent.records()), 2, "deleted file");
    let (status, _, _) = agent.terminate();
    assert!(status.success());
}

#[test]
fn excluded_files_are_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    append(&tmp.path().join("app.log"), "kept seq=0\n");
    append(&tmp.path().join("wardwatch.log"), "own output seq=1\n");
    let config = dir_config(tmp.path(), "");
    add_logs_setting(
        &config,
        &format!("exclude: ['{}/wardwatch.log']", tmp.path().display()),
    );
    let agent = Agent::with_config(&config);
    agent.wait_for(Duration::from_secs(10), "the kept line", |r| !r.is_empty());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sequence_numbers(&agent.records()), [0]);
    let (status, _, _) = agent.terminate();
    assert!(status.success());
}

#[test]
fn read_from_end_skips_only_what_was_there_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old.log");
    append(&old, "before start seq=100\n");
    let config = dir_config(tmp.path(), "");
    add_logs_setting(&config, "read_from: end");
    let agent = Agent::with_config(&config);
    agent.wait_ready();
    agent.wait_metric("wardwatch_logs_files_watched", |v| v == 1.0);
    append(&old, "after start seq=0\n");
    // A file created later is a new container's log: read whole.
    append(&tmp.path().join("new.log"), "new file seq=1\n");
    agent.wait_for(Duration::from_secs(10), "two lines", |r| r.len() >= 2);
    std::thread::sleep(Duration::from_millis(300));
    let mut seen = sequence_numbers(&agent.records());
    seen.sort_unstable();
    assert_eq!(seen, [0, 1]);
    let (status, _, _) = agent.terminate();
    assert!(status.success());
}

#[test]
fn a_reused_inode_with_new_content_is_read_from_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    append(
        &log,
        "2024-05-06 first generation, a line long enough to matter seq=0\n",
    );
    let config = dir_config(tmp.path(), "");
    let first = Agent::with_config(&config);
    first.wait_for(Duration::from_secs(10), "the first file", |r| !r.is_empty());
    let (status, _, _) = first.terminate();
    assert!(status.success());
    // Same inode, other content, longer than the checkpoint's offset: what a
    // new file that got the old one's inode looks like to the agent.
    let mut text = String::new();
    for seq in 1..=5 {
        text += &format!("2025-01-01 second generation, another file altogether seq={seq}\n");
    }
    std::fs::write(&log, text).unwrap();
    let second = Agent::with_config(&config);
    second.wait_for(Duration::from_secs(10), "the whole new content", |r| {
        r.len() >= 5
    });
    let mut seen = sequence_numbers(&second.records());
    seen.sort_unstable();
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    let (status, _, _) = second.terminate();
    assert!(status.success());
}
