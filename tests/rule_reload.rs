//! Reloading rule files while running: SIGHUP (or the interval) swaps in the
//! new rules; a broken file keeps the rules in force and is reported.

mod support;

use std::time::Duration;

use support::*;

const SSN_RULE: &str = "rules:\n  - id: field-ssn\n    description: SSNs\n    kind: field\n    paths: ['*.ssn']\n    replacement: '[REDACTED]'\n    examples:\n      match: [ssn]\n";
const MRN_RULE: &str = "  - id: field-mrn\n    description: MRNs\n    kind: field\n    paths: ['*.mrn']\n    replacement: '[REDACTED]'\n    examples:\n      match: [mrn]\n";

fn hangup(agent: &Agent) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(agent.pid(), libc::SIGHUP) };
}

fn line(seq: u32) -> String {
    format!(
        "{{\"message\":\"visit seq={seq}\",\"ssn\":\"900-00-0001\",\"mrn\":\"MRN-{seq:07}\"}}\n"
    )
}

#[test]
fn sighup_swaps_in_new_rules_and_a_broken_file_keeps_the_old_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("pack.yaml"), SSN_RULE).unwrap();
    let log = tmp.path().join("app.log");
    append(&log, &line(0));
    let config = dir_config(
        tmp.path(),
        // Interval reloads off: only SIGHUP, so the test controls when.
        "redaction:\n  rules: [rules]\n  reload_interval_secs: 0\n",
    );
    let agent = Agent::with_config(&config);
    agent.wait_ready();
    agent.wait_for(Duration::from_secs(10), "line 0", |r| r.len() == 1);
    let first = &agent.records()[0];
    assert_eq!(first["ssn"], "[REDACTED]");
    assert_eq!(first["mrn"], "MRN-0000000", "no MRN rule yet");

    std::fs::write(rules.join("pack.yaml"), format!("{SSN_RULE}{MRN_RULE}")).unwrap();
    hangup(&agent);
    agent.wait_metric("wardwatch_redact_rule_reloads_total{outcome=\"ok\"}", |v| {
        v == 1.0
    });
    append(&log, &line(1));
    agent.wait_for(Duration::from_secs(10), "line 1", |r| r.len() == 2);
    assert_eq!(agent.records()[1]["mrn"], "[REDACTED]");

    std::fs::write(rules.join("pack.yaml"), "rules: [ {id: broken").unwrap();
    hangup(&agent);
    agent.wait_metric(
        "wardwatch_redact_rule_reloads_total{outcome=\"error\"}",
        |v| v == 1.0,
    );
    append(&log, &line(2));
    agent.wait_for(Duration::from_secs(10), "line 2", |r| r.len() == 3);
    let third = &agent.records()[2];
    assert_eq!(
        third["mrn"], "[REDACTED]",
        "the previous rules stay in force"
    );
    assert_eq!(third["ssn"], "[REDACTED]");
    let (status, _, stderr) = agent.terminate();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("pack.yaml:1:"),
        "the reload error names the file and line"
    );
}

#[test]
fn sighup_with_the_built_in_rules_does_not_stop_the_agent() {
    let tmp = tempfile::tempdir().unwrap();
    append(&tmp.path().join("app.log"), "hello seq=0\n");
    let config = dir_config(tmp.path(), "");
    let agent = Agent::with_config(&config);
    agent.wait_ready();
    hangup(&agent);
    std::thread::sleep(Duration::from_millis(300));
    append(&tmp.path().join("app.log"), "still here seq=1\n");
    agent.wait_for(Duration::from_secs(10), "both lines", |r| r.len() == 2);
    let (status, _, _) = agent.terminate();
    assert!(status.success());
}
