//! Bad input gets counted and passed on, never a crash: invalid UTF-8, a
//! 10 MB line, binary garbage, truncated JSON.

mod support;

use std::time::Duration;

use support::*;

#[test]
fn bad_bytes_are_counted_and_nothing_else_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    let mut bytes: Vec<u8> = Vec::new();
    bytes.extend_from_slice(b"before seq=0\n");
    bytes.extend_from_slice(b"latin-1 caf\xe9 \xff\xfe seq=1\n");
    bytes.extend_from_slice(b"huge seq=2 ");
    bytes.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    bytes.push(b'\n');
    bytes.extend_from_slice(b"\x00\x01\x02\x1b[31m\x7f\x80 garbage seq=3\n");
    bytes.extend_from_slice(
        b"{\"message\":\"truncated json seq=4\",\"patient\":{\"ssn\":\"900-00-\n",
    );
    bytes.extend_from_slice(b"after seq=5\n");
    std::fs::write(&log, &bytes).unwrap();
    let config = dir_config(tmp.path(), "");
    let agent = Agent::with_config(&config);
    agent.wait_ready();
    agent.wait_for(Duration::from_secs(30), "6 records", |r| {
        sequence_numbers(r).len() >= 6
    });
    let records = agent.records();
    let seen = sequence_numbers(&records);
    assert_all_seen(&seen, 6, "bad input");

    let latin = records
        .iter()
        .find(|r| r["message"].as_str().unwrap_or("").contains("seq=1"))
        .unwrap();
    assert!(latin["message"].as_str().unwrap().contains('\u{FFFD}'));
    let huge = records
        .iter()
        .find(|r| r["message"].as_str().unwrap_or("").contains("seq=2"))
        .unwrap();
    assert_eq!(huge["wardwatch.truncated"], true);
    assert!(huge["message"].as_str().unwrap().len() <= 1024 * 1024);

    agent.wait_metric("wardwatch_logs_records_truncated_total", |v| v >= 1.0);
    assert!(agent.metric("wardwatch_logs_invalid_utf8_records_total") >= 2.0);
    let (status, _, stderr) = agent.terminate();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("900-00-"),
        "the agent's own logs must not carry record content"
    );
}

#[test]
fn garbage_in_a_docker_file_is_passed_on_as_text_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let log = docker_log(tmp.path(), "ab12", "lab-results-1", "lab:2", &[]);
    let mut text = String::new();
    text += &docker_line("stdout", "result ready seq=0\n");
    text += "\u{1}\u{2} binary garbage seq=1\n";
    text += "{\"log\":\"truncated json seq=2\",\"stream\":\"std\n";
    text += &docker_line("stderr", "after seq=3\n");
    append(&log, &text);
    let config = test_config(
        tmp.path(),
        &[format!(
            "{}/var/lib/docker/containers/*/*-json.log",
            tmp.path().display()
        )],
        &tmp.path().join("data"),
        "",
    );
    let agent = Agent::with_config(&config);
    agent.wait_ready();
    agent.wait_for(Duration::from_secs(20), "4 records", |r| {
        sequence_numbers(r).len() >= 4
    });
    assert_all_seen(&sequence_numbers(&agent.records()), 4, "docker garbage");
    agent.wait_metric("wardwatch_logs_malformed_records_total", |v| v >= 2.0);
    let (status, _, _) = agent.terminate();
    assert!(status.success());
}
