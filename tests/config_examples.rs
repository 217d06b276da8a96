//! Every example config loads, and a broken config is reported the way an
//! operator needs: file, line, column and the key, for every problem at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use wardwatch::config::{
    self, load_file, load_file_with_env, load_str_with_env, validate_rules, ConfigError,
    LoadedConfig, StdoutFormat,
};

/// What a pod or container would have in its environment.
fn node_env() -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<&str, &str> = [
        ("NODE_NAME", "node-a"),
        ("POD_NAMESPACE", "observability"),
        ("POD_NAME", "wardwatch-x7k2p"),
        ("HOSTNAME", "0123456789ab"),
        ("WARDWATCH_HOST_NAME", "clinic-host-01"),
    ]
    .into_iter()
    .collect();
    move |name| vars.get(name).map(|value| value.to_string())
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

fn load_example(name: &str) -> LoadedConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    load_file_with_env(&path, &node_env()).unwrap_or_else(|errors| panic!("{errors}"))
}

fn globs(list: &[serde_saphyr::Spanned<String>]) -> Vec<&str> {
    list.iter().map(|glob| glob.value.as_str()).collect()
}

#[test]
fn every_example_loads_and_validates() {
    let files = examples();
    let names: Vec<_> = files
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "compose-sidecar.yaml",
        "daemonset.yaml",
        "stdout-debugging.yaml",
    ] {
        assert!(names.iter().any(|name| name == expected), "{names:?}");
    }
    for path in &files {
        let loaded = load_file_with_env(path, &node_env())
            .unwrap_or_else(|errors| panic!("{}:\n{errors}", path.display()));
        assert_eq!(loaded.file.as_deref(), Some(path.as_path()));
        validate_rules(&loaded).unwrap_or_else(|errors| panic!("{errors}"));
    }
}

#[test]
fn daemonset_example_is_set_up_for_a_node() {
    let config = load_example("daemonset.yaml").config;
    assert_eq!(config.admin.address.value, "0.0.0.0:8686");
    assert_eq!(config.enrich.host_name.as_deref(), Some("node-a"));
    assert_eq!(
        config
            .enrich
            .tenants
            .get("cardiology-jobs")
            .map(String::as_str),
        Some("cardiology")
    );
    assert_eq!(
        globs(&config.sources.logs.include),
        ["/var/log/pods/*/*/*.log"]
    );
    // The agent's own pod is excluded, or a stdout sink would read itself.
    let own_logs = "/var/log/pods/observability_wardwatch-x7k2p_*/*/*.log";
    assert!(globs(&config.sources.logs.exclude).contains(&own_logs));
    let pattern = glob::Pattern::new(own_logs).unwrap();
    assert!(pattern.matches("/var/log/pods/observability_wardwatch-x7k2p_5f1c/agent/0.log"));
}

#[test]
fn compose_example_reads_docker_json_files_but_not_its_own() {
    let config = load_example("compose-sidecar.yaml").config;
    assert_eq!(
        globs(&config.sources.logs.include),
        ["/var/lib/docker/containers/*/*-json.log"]
    );
    assert_eq!(
        globs(&config.sources.logs.exclude),
        ["/var/lib/docker/containers/0123456789ab*/*-json.log"]
    );
    assert_eq!(config.admin.address.value, "127.0.0.1:8686");
    assert_eq!(config.enrich.host_name.as_deref(), Some("clinic-host-01"));
}

#[test]
fn stdout_debugging_example_writes_text() {
    let config = load_example("stdout-debugging.yaml").config;
    assert_eq!(config.sinks.stdout.unwrap().format, StdoutFormat::Text);
    assert_eq!(config.sources.logs.read_from, config::ReadFrom::End);
}

#[test]
fn example_needing_a_variable_fails_without_it() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/daemonset.yaml");
    let errors = load_file_with_env(&path, &|_| None).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("`NODE_NAME` is not set"));
    assert!(errors[0].line > 0 && errors[0].column > 0);
}

#[test]
fn embedded_default_loads() {
    let loaded = config::embedded_default();
    assert!(loaded.file.is_none());
    assert_eq!(
        loaded
            .config
            .sinks
            .stdout
            .as_ref()
            .map(|stdout| stdout.format),
        Some(StdoutFormat::Json)
    );
    assert_eq!(loaded.config.admin.address.value, "127.0.0.1:8686");
    validate_rules(&loaded).unwrap();
}

/// Writes `text` to a file and loads it with the process environment, as
/// the agent does.
fn load_written(text: &str) -> (Result<LoadedConfig, config::ConfigErrors>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wardwatch.yaml");
    std::fs::write(&path, text).unwrap();
    (load_file(&path), path.display().to_string())
}

fn only(errors: Vec<ConfigError>) -> ConfigError {
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.into_iter().next().unwrap()
}

#[test]
fn unknown_key_is_named_at_its_line() {
    let (result, file) = load_written(
        "sinks:\n  stdout: {}\nsources:\n  logs:\n    include: ['/var/log/*.log']\n    pol_interval_ms: 50\n",
    );
    let error = only(result.unwrap_err().0);
    assert_eq!(error.file, file);
    assert_eq!((error.line, error.column), (6, 5));
    assert!(
        error
            .message
            .starts_with("sources.logs.pol_interval_ms: unknown field `pol_interval_ms`"),
        "{error}"
    );
    assert!(error.message.contains("poll_interval_ms"), "{error}");
    assert!(
        error
            .to_string()
            .starts_with(&format!("{file}:6:5: sources.logs.pol_interval_ms")),
        "{error}"
    );
}

#[test]
fn bad_glob_and_bad_regex_are_both_reported_with_their_lines() {
    let text = "\
sinks:
  stdout: {}
sources:
  logs:
    include:
      - /var/log/pods/*/*/*.log
      - '/var/log/[app/*.log'
    multiline:
      start_pattern: '^(\\d{4}'
";
    let (result, file) = load_written(text);
    let errors = result.unwrap_err();
    let report = errors.to_string();
    let places: Vec<_> = errors
        .0
        .iter()
        .map(|error| (error.line, error.column))
        .collect();
    assert_eq!(places, [(7, 9), (9, 22)], "{report}");
    let lines: Vec<_> = report.lines().collect();
    assert_eq!(lines.len(), 2, "{report}");
    assert!(
        lines[0].starts_with(&format!(
            "{file}:7:9: sources.logs.include[1]: `/var/log/[app/*.log` is not a valid glob"
        )),
        "{report}"
    );
    assert_eq!(
        lines[1],
        format!("{file}:9:22: sources.logs.multiline.start_pattern: is not a valid regular expression: unclosed group")
    );
}

#[test]
fn unset_variable_is_reported_at_its_line() {
    let (result, file) = load_written(
        "sinks:\n  stdout: {}\n# ${ALSO_UNSET} in a comment is fine\nenrich:\n  host_name: '${WARDWATCH_TEST_SURELY_UNSET_3F9A}'\n",
    );
    let error = only(result.unwrap_err().0);
    assert_eq!(
        error.to_string(),
        format!(
            "{file}:5:15: environment variable `WARDWATCH_TEST_SURELY_UNSET_3F9A` is not set; \
             set it, or give a default with `${{WARDWATCH_TEST_SURELY_UNSET_3F9A:-default}}`"
        )
    );
}

#[test]
fn defaults_and_literal_dollars_are_interpolated() {
    let text = "\
sinks: {stdout: {format: '${WARDWATCH_TEST_UNSET_FORMAT:-text}'}}
data_dir: '${WARDWATCH_TEST_EMPTY_DIR:-/srv/ww}'
sources:
  logs:
    multiline:
      start_pattern: '^cost: \\d+$$ '
enrich:
  tenants:
    billing: 'team-$$${WARDWATCH_TEST_TENANT}'
";
    let vars: HashMap<&str, &str> = [
        ("WARDWATCH_TEST_EMPTY_DIR", ""),
        ("WARDWATCH_TEST_TENANT", "a"),
    ]
    .into_iter()
    .collect();
    let loaded = load_str_with_env(text, "inline.yaml", Path::new("/"), &|name| {
        vars.get(name).map(|value| value.to_string())
    })
    .unwrap_or_else(|errors| panic!("{errors}"));
    let config = loaded.config;
    assert_eq!(config.sinks.stdout.unwrap().format, StdoutFormat::Text);
    assert_eq!(config.data_dir, Path::new("/srv/ww"));
    assert_eq!(
        config.sources.logs.multiline.start_pattern.unwrap().value,
        "^cost: \\d+$ "
    );
    assert_eq!(config.enrich.tenants["billing"], "team-$a");
}

#[test]
fn load_file_reads_the_process_environment() {
    // A name no other test uses: tests run in parallel in one process.
    std::env::set_var("WARDWATCH_TEST_NODE_3F9A", "node-from-env");
    let (result, _) =
        load_written("sinks: {stdout: {}}\nenrich: {host_name: '${WARDWATCH_TEST_NODE_3F9A}'}\n");
    let config = result.unwrap_or_else(|errors| panic!("{errors}")).config;
    assert_eq!(config.enrich.host_name.as_deref(), Some("node-from-env"));
}
