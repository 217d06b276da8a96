//! The [`Enricher`] end to end: trees laid out like a node's in temp dirs, and
//! the demo tree in `examples/node`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

const UID: &str = "3f6c2a9e-8b1d-4e57-9a0c-2d7b5e1f4a63";
const ID: &str = "4f2a9c81d3b7e6a05c1f8e2d9b4a7c3e6f0d1a2b3c4d5e6f7a8b9c0d1e2f3a4b";

fn enricher(tenants: &[(&str, &str)]) -> Enricher {
    Enricher {
        host_name: "node-1".to_owned(),
        tenants: tenants
            .iter()
            .map(|(namespace, tenant)| (namespace.to_string(), tenant.to_string()))
            .collect(),
        directory: Default::default(),
    }
}

/// `<tmp>/var/lib/docker/containers/<ID>/`, with `config` as its
/// `config.v2.json` when given; returns the json-file log's path.
fn docker_container(tmp: &Path, config: Option<&str>) -> PathBuf {
    let dir = tmp.join("var/lib/docker/containers").join(ID);
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(config) = config {
        std::fs::write(dir.join("config.v2.json"), config).unwrap();
    }
    let log = dir.join(format!("{ID}-json.log"));
    std::fs::write(&log, "").unwrap();
    log
}

#[test]
fn unknown_layouts_give_host_and_path_only() {
    let enricher = enricher(&[]);
    for path in [
        "/var/log/syslog",
        "app.log",
        "/",
        "",
        "/var/log/pods/x/0.log",
    ] {
        let resource = enricher.resource_for(Path::new(path));
        assert_eq!(
            resource,
            Resource {
                host_name: "node-1".into(),
                log_file_path: path.into(),
                ..Resource::default()
            },
            "{path}"
        );
    }
}

#[test]
fn cri_path_gives_pod_service_and_tenant() {
    let path = format!(
        "/tmp/t/var/log/pods/cardiology-prod_patient-service-7d9f8b6c4-x2x9z_{UID}/patient-service/3.log"
    );
    let resource = enricher(&[]).resource_for(Path::new(&path));
    assert_eq!(
        resource,
        Resource {
            host_name: "node-1".into(),
            log_file_path: path.clone(),
            namespace: Some("cardiology-prod".into()),
            pod_name: Some("patient-service-7d9f8b6c4-x2x9z".into()),
            pod_uid: Some(UID.into()),
            container_name: Some("patient-service".into()),
            restart_count: Some(3),
            service_name: Some("patient-service".into()),
            tenant_id: Some("cardiology-prod".into()),
            ..Resource::default()
        }
    );
}

#[test]
fn bare_pod_takes_its_container_name_as_service() {
    let path = format!("/var/log/pods/cardiology-prod_debug-shell_{UID}/toolbox/0.log");
    let resource = enricher(&[]).resource_for(Path::new(&path));
    assert_eq!(resource.service_name.as_deref(), Some("toolbox"));
}

#[test]
fn tenant_mapping() {
    let enricher = enricher(&[
        ("cardiology-prod", "cardiology"),
        ("cardiology-jobs", "cardiology"),
    ]);
    let cases = [
        ("cardiology-prod", "cardiology"),
        ("cardiology-jobs", "cardiology"),
        ("oncology-prod", "oncology-prod"),
    ];
    for (namespace, tenant) in cases {
        let path = format!("/var/log/pods/{namespace}_web-0_{UID}/web/0.log");
        let resource = enricher.resource_for(Path::new(&path));
        assert_eq!(resource.tenant_id.as_deref(), Some(tenant), "{namespace}");
        assert_eq!(
            resource.namespace.as_deref(),
            Some(namespace),
            "namespace is kept"
        );
    }
}

#[test]
fn compose_container() {
    let tmp = tempfile::tempdir().unwrap();
    let log = docker_container(
        tmp.path(),
        Some(&format!(
            r#"{{"ID":"{ID}","Name":"/clinic-billing-service-1",
            "Config":{{"Image":"registry.example.org/clinic/billing-service:2.3.1","Labels":{{
              "com.docker.compose.project":"clinic",
              "com.docker.compose.service":"billing-service",
              "com.docker.compose.container-number":"1"}}}}}}"#
        )),
    );
    // The mapping is by namespace: a compose project is not looked up.
    let resource = enricher(&[("clinic", "mapped")]).resource_for(&log);
    assert_eq!(resource.container_id.as_deref(), Some(ID));
    assert_eq!(
        resource.container_name.as_deref(),
        Some("clinic-billing-service-1")
    );
    assert_eq!(
        resource.container_image.as_deref(),
        Some("registry.example.org/clinic/billing-service:2.3.1")
    );
    assert_eq!(resource.labels.len(), 3);
    assert_eq!(resource.service_name.as_deref(), Some("billing-service"));
    assert_eq!(resource.tenant_id.as_deref(), Some("clinic"));
    assert_eq!(resource.namespace, None);
    assert_eq!(resource.pod_name, None);
}

#[test]
fn dockershim_container_gets_pod_fields_from_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let log = docker_container(
        tmp.path(),
        Some(&format!(
            r#"{{"ID":"{ID}",
            "Name":"/k8s_patient-service_patient-service-7d9f8b6c4-x2x9z_cardiology-prod_{UID}_2",
            "Config":{{"Image":"registry.example.org/cardiology/patient-service:4.1.0","Labels":{{
              "io.kubernetes.container.name":"patient-service",
              "io.kubernetes.pod.name":"patient-service-7d9f8b6c4-x2x9z",
              "io.kubernetes.pod.namespace":"cardiology-prod",
              "io.kubernetes.pod.uid":"{UID}",
              "annotation.io.kubernetes.container.restartCount":"2",
              "io.kubernetes.docker.type":"container"}}}}}}"#
        )),
    );
    let resource = enricher(&[("cardiology-prod", "cardiology")]).resource_for(&log);
    assert_eq!(resource.namespace.as_deref(), Some("cardiology-prod"));
    assert_eq!(
        resource.pod_name.as_deref(),
        Some("patient-service-7d9f8b6c4-x2x9z")
    );
    assert_eq!(resource.pod_uid.as_deref(), Some(UID));
    assert_eq!(resource.container_name.as_deref(), Some("patient-service"));
    assert_eq!(resource.restart_count, Some(2));
    assert_eq!(resource.service_name.as_deref(), Some("patient-service"));
    assert_eq!(resource.tenant_id.as_deref(), Some("cardiology"));
}

#[test]
fn app_labels_name_the_service() {
    let tmp = tempfile::tempdir().unwrap();
    let log = docker_container(
        tmp.path(),
        Some(
            r#"{"Name":"/festive_babbage","Config":{"Image":"lab:1","Labels":{"app":"lab-results"}}}"#,
        ),
    );
    let resource = enricher(&[]).resource_for(&log);
    assert_eq!(resource.service_name.as_deref(), Some("lab-results"));
    assert_eq!(
        resource.container_id.as_deref(),
        Some(ID),
        "from the directory"
    );
    assert_eq!(resource.tenant_id, None);
}

#[test]
fn plain_container_is_its_own_service() {
    let tmp = tempfile::tempdir().unwrap();
    let log = docker_container(
        tmp.path(),
        Some(r#"{"Name":"/festive_babbage","Config":{"Image":"lab:1","Labels":null}}"#),
    );
    let resource = enricher(&[]).resource_for(&log);
    assert_eq!(resource.container_name.as_deref(), Some("festive_babbage"));
    assert_eq!(resource.service_name.as_deref(), Some("festive_babbage"));
    assert!(resource.labels.is_empty());
}

#[test]
fn null_and_missing_sections() {
    let tmp = tempfile::tempdir().unwrap();
    for config in [
        r#"{"ID":null,"Name":null,"Config":null}"#,
        r#"{"Config":{"Labels":null,"Image":null}}"#,
        r#"{"Config":{}}"#,
        r#"{}"#,
    ] {
        let log = docker_container(tmp.path(), Some(config));
        let resource = enricher(&[]).resource_for(&log);
        assert_eq!(resource.container_id.as_deref(), Some(ID), "{config}");
        assert_eq!(resource.container_name, None, "{config}");
        assert_eq!(resource.service_name, None, "{config}");
        assert!(resource.labels.is_empty(), "{config}");
    }
}

#[test]
fn missing_or_malformed_config_still_gives_the_container_id() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = docker_container(tmp.path(), None);
    let expected = Resource {
        host_name: "node-1".into(),
        log_file_path: missing.to_string_lossy().into_owned(),
        container_id: Some(ID.into()),
        ..Resource::default()
    };
    assert_eq!(enricher(&[]).resource_for(&missing), expected);

    for config in [
        "",
        "{",
        "not json",
        r#"{"Name":"/x","Config":{"Labels":["a"]}}"#,
        r#"{"Name":42}"#,
    ] {
        let log = docker_container(tmp.path(), Some(config));
        assert_eq!(enricher(&[]).resource_for(&log), expected, "{config:?}");
    }
}

#[test]
fn config_that_is_a_directory_is_unreadable_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let log = docker_container(tmp.path(), None);
    std::fs::create_dir(log.parent().unwrap().join("config.v2.json")).unwrap();
    let resource = enricher(&[]).resource_for(&log);
    assert_eq!(resource.container_id.as_deref(), Some(ID));
}

#[test]
fn id_in_config_wins_over_directory_name() {
    let other = "9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c";
    let tmp = tempfile::tempdir().unwrap();
    let log = docker_container(tmp.path(), Some(&format!(r#"{{"ID":"{other}"}}"#)));
    assert_eq!(
        enricher(&[]).resource_for(&log).container_id.as_deref(),
        Some(other)
    );
    let log = docker_container(tmp.path(), Some(r#"{"ID":"not-an-id"}"#));
    assert_eq!(
        enricher(&[]).resource_for(&log).container_id.as_deref(),
        Some(ID)
    );
}

#[test]
fn container_log_link_alone() {
    let path = format!("/var/log/containers/fhir-gateway-0_cardiology-prod_fhir-gateway-{ID}.log");
    let resource = enricher(&[]).resource_for(Path::new(&path));
    assert_eq!(resource.namespace.as_deref(), Some("cardiology-prod"));
    assert_eq!(resource.pod_name.as_deref(), Some("fhir-gateway-0"));
    assert_eq!(resource.container_name.as_deref(), Some("fhir-gateway"));
    assert_eq!(resource.container_id.as_deref(), Some(ID));
    assert_eq!(resource.pod_uid, None, "no link to follow");
    assert_eq!(resource.service_name.as_deref(), Some("fhir-gateway"));
    assert_eq!(resource.tenant_id.as_deref(), Some("cardiology-prod"));
}

#[test]
fn container_log_link_into_the_pods_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let pod_log = tmp.path().join(format!(
        "var/log/pods/cardiology-prod_fhir-gateway-0_{UID}/fhir-gateway/4.log"
    ));
    std::fs::create_dir_all(pod_log.parent().unwrap()).unwrap();
    std::fs::write(&pod_log, "").unwrap();
    let containers = tmp.path().join("var/log/containers");
    std::fs::create_dir_all(&containers).unwrap();
    let link = containers.join(format!(
        "fhir-gateway-0_cardiology-prod_fhir-gateway-{ID}.log"
    ));
    // Relative, as some kubelets write it.
    std::os::unix::fs::symlink(
        format!("../pods/cardiology-prod_fhir-gateway-0_{UID}/fhir-gateway/4.log"),
        &link,
    )
    .unwrap();

    let resource = enricher(&[]).resource_for(&link);
    assert_eq!(resource.log_file_path, link.to_string_lossy());
    assert_eq!(resource.pod_uid.as_deref(), Some(UID));
    assert_eq!(resource.restart_count, Some(4));
    assert_eq!(resource.container_id.as_deref(), Some(ID));
    assert_eq!(resource.pod_name.as_deref(), Some("fhir-gateway-0"));
}

#[test]
fn container_log_link_into_docker_on_dockershim() {
    let tmp = tempfile::tempdir().unwrap();
    let docker_log = docker_container(
        tmp.path(),
        Some(&format!(
            r#"{{"ID":"{ID}","Config":{{"Image":"registry.example.org/fhir-gateway:1.0","Labels":{{
              "io.kubernetes.pod.uid":"{UID}",
              "annotation.io.kubernetes.container.restartCount":"1"}}}}}}"#
        )),
    );
    let link = tmp.path().join(format!(
        "fhir-gateway-0_cardiology-prod_fhir-gateway-{ID}.log"
    ));
    std::os::unix::fs::symlink(&docker_log, &link).unwrap();

    let resource = enricher(&[]).resource_for(&link);
    assert_eq!(resource.pod_uid.as_deref(), Some(UID));
    assert_eq!(resource.restart_count, Some(1));
    assert_eq!(
        resource.container_image.as_deref(),
        Some("registry.example.org/fhir-gateway:1.0")
    );
    assert_eq!(resource.container_name.as_deref(), Some("fhir-gateway"));
}

#[test]
fn configured_host_name_is_used() {
    let config = EnrichConfig {
        host_name: Some("ward-7".to_owned()),
        tenants: BTreeMap::new(),
    };
    let resource = Enricher::new(&config).resource_for(Path::new("/var/log/syslog"));
    assert_eq!(resource.host_name, "ward-7");
}

/// What `examples/node/README.md` promises for one of its log files.
struct Expected {
    file: String,
    namespace: Option<&'static str>,
    pod: Option<&'static str>,
    container: &'static str,
    service: &'static str,
    tenant: &'static str,
}

/// Every log file of the demo tree that the README's first command reads.
#[test]
fn example_node_tree() {
    const PODS: &str = "var/log/pods";
    const DOCKER: &str = "var/lib/docker/containers";
    const BILLING: &str = "7d35421ab09896967f18f722ab037cb5fe0aa88b84f8e716de4f62a21027524c";
    let expected = [
        Expected {
            file: format!("{PODS}/cardiology-prod_patient-service-7d9f8b6c4-x2x9z_3f6c2a9e-8b1d-4e57-9a0c-2d7b5e1f4a63/patient-service/0.log"),
            namespace: Some("cardiology-prod"),
            pod: Some("patient-service-7d9f8b6c4-x2x9z"),
            container: "patient-service",
            service: "patient-service",
            tenant: "cardiology-prod",
        },
        Expected {
            file: format!("{PODS}/cardiology-prod_appointment-service-5c8d7f9b46-q7wks_b7e41d0c-5a93-4c2f-8e16-9d0a3f7c2b58/appointment-service/0.log"),
            namespace: Some("cardiology-prod"),
            pod: Some("appointment-service-5c8d7f9b46-q7wks"),
            container: "appointment-service",
            service: "appointment-service",
            tenant: "cardiology-prod",
        },
        Expected {
            file: format!("{PODS}/cardiology-prod_fhir-gateway-0_e2a9c5f1-7d34-4b8e-a061-5c3f9e8d1b27/fhir-gateway/0.log"),
            namespace: Some("cardiology-prod"),
            pod: Some("fhir-gateway-0"),
            container: "fhir-gateway",
            service: "fhir-gateway",
            tenant: "cardiology-prod",
        },
        Expected {
            file: format!("{DOCKER}/{BILLING}/{BILLING}-json.log"),
            namespace: None,
            pod: None,
            container: "clinic-billing-service-1",
            service: "billing-service",
            tenant: "clinic",
        },
    ];

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node");
    let mut found = Vec::new();
    collect_log_files(&root, &mut found);
    let mut found: Vec<String> = found
        .iter()
        .map(|path| {
            path.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    found.sort();
    let mut listed: Vec<String> = expected.iter().map(|e| e.file.clone()).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "every log file in examples/node has an expectation here"
    );

    let enricher = enricher(&[]);
    for e in &expected {
        let file = &e.file;
        let resource = enricher.resource_for(&root.join(file));
        assert_eq!(resource.namespace.as_deref(), e.namespace, "{file}");
        assert_eq!(resource.pod_name.as_deref(), e.pod, "{file}");
        assert_eq!(
            resource.container_name.as_deref(),
            Some(e.container),
            "{file}"
        );
        assert_eq!(resource.service_name.as_deref(), Some(e.service), "{file}");
        assert_eq!(resource.tenant_id.as_deref(), Some(e.tenant), "{file}");
        if e.namespace.is_some() {
            assert!(resource.pod_uid.is_some(), "{file}");
            assert_eq!(resource.restart_count, Some(0), "{file}");
        } else {
            assert_eq!(
                resource.container_image.as_deref(),
                Some("registry.example.org/clinic/billing-service:2.3.1"),
                "{file}: config.v2.json read"
            );
            assert_eq!(resource.container_id.as_deref(), Some(BILLING), "{file}");
        }
    }
}

/// Files whose names end in `.log`, as the README's globs match them.
fn collect_log_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
    for path in entries.map(|entry| entry.unwrap().path()) {
        if path.is_dir() {
            collect_log_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "log") {
            found.push(path);
        }
    }
}
