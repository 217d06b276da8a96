//! Log sampling through the real binary, with the platform's standard rules
//! (`examples/sampling.yaml`): a tenth of debug lines, every warning and
//! error, every `PHI_ACCESS` audit line whatever its level, and the
//! checkpoint still moves past what was thinned out.

mod support;

use std::time::Duration;

use support::{append, dir_config, Agent};

#[test]
fn the_platform_standard_keeps_audit_and_errors_and_a_tenth_of_debug() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sampling.yaml"),
    )
    .unwrap();
    let sampling = &example[example.find("\nsampling:").unwrap() + 1..];
    let config = dir_config(dir.path(), sampling);
    let log = dir.path().join("app.log");
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!(
            "2026-11-22 10:00:00.000 DEBUG 1 --- [main] c.h.Cache : cache miss key={i}\n"
        ));
    }
    for i in 0..100 {
        text.push_str(&format!("2026-11-22 10:00:01.000 DEBUG 1 --- [main] c.h.Audit : PHI_ACCESS user=dr-{i} record=enc-{i}\n"));
        text.push_str(&format!(
            "2026-11-22 10:00:01.000 ERROR 1 --- [main] c.h.Api : upstream failed attempt={i}\n"
        ));
        text.push_str(&format!(
            "2026-11-22 10:00:01.000 WARN 1 --- [main] c.h.Api : slow call attempt={i}\n"
        ));
    }
    text.push_str("2026-11-22 10:00:02.000 INFO 1 --- [main] c.h.Api : last line\n");
    append(&log, &text);

    let agent = Agent::with_config(&config);
    agent.wait_for(Duration::from_secs(20), "the last line", |records| {
        records.iter().any(|r| {
            r["message"]
                .as_str()
                .is_some_and(|m| m.ends_with("last line"))
        })
    });
    let records = agent.records();
    let count = |needle: &str| {
        records
            .iter()
            .filter(|r| r["message"].as_str().is_some_and(|m| m.contains(needle)))
            .count()
    };
    assert_eq!(count("PHI_ACCESS"), 100);
    assert_eq!(count("upstream failed"), 100);
    assert_eq!(count("slow call"), 100);
    // 2000 distinct debug lines at 10 %: within 4 standard deviations.
    let kept = count("cache miss") as f64;
    let sd = (2000.0f64 * 0.1 * 0.9).sqrt();
    assert!((kept - 200.0).abs() < 4.0 * sd, "kept {kept} debug lines");
    let dropped = agent.metric(
        r#"wardwatch_sampling_decisions_total{signal="logs",rule="debug-lines",decision="dropped"}"#,
    );
    assert_eq!(dropped, 2000.0 - kept);
    let (status, _, stderr) = agent.terminate();
    assert!(status.success(), "{stderr}");
}
