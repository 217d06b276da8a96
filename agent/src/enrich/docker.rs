//! Docker's json-file layout: `<data-root>/containers/<id>/<id>-json.log`
//! (rotated to `<id>-json.log.1`, …), with the container's `config.v2.json`
//! beside it.
//!
//! Docker writes `config.v2.json` whole (write to a temp file, then rename), so
//! one read sees a complete file. Only `ID`, `Name`, `Config.Image` and
//! `Config.Labels` are read; the rest of the file (state, mounts, network
//! settings, environment) is skipped by the parser and never kept, since
//! `Config.Env` may hold secrets.
//!
//! On dockershim nodes (Kubernetes before 1.24 on Docker) the kubelet labels
//! each container with its pod's namespace, name and uid, and its restart
//! count: those fill the pod fields. On compose hosts the compose labels name
//! the project and service.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::container_id::ContainerId;
use super::{last_components, EnrichError};
use crate::event::Resource;

pub(super) const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";
pub(super) const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";
const K8S_POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
const K8S_POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
const K8S_POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
const K8S_CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";
const K8S_RESTART_COUNT_LABEL: &str = "annotation.io.kubernetes.container.restartCount";

/// The file Docker keeps the container's definition in.
const CONFIG_FILE: &str = "config.v2.json";

/// Real files are a few KiB to a few hundred KiB (large environments, many
/// mounts); anything past this is not a Docker config and is not parsed.
const CONFIG_LIMIT_BYTES: u64 = 8 * 1024 * 1024;

/// A json-file log in its container's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct DockerLogPath {
    container_id: ContainerId,
    container_dir: PathBuf,
}

impl DockerLogPath {
    pub(super) fn parse(path: &Path) -> Option<Self> {
        let [dir, file] = last_components(path)?;
        let container_id = ContainerId::parse(dir)?;
        let rotation = file.strip_prefix(dir)?.strip_prefix("-json.log")?;
        let is_rotation = rotation.is_empty()
            || rotation
                .strip_prefix('.')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        is_rotation.then(|| DockerLogPath {
            container_id,
            container_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        })
    }

    /// Reads the container's `config.v2.json`.
    pub(super) fn read_container(&self) -> Result<DockerContainer, EnrichError> {
        let path = self.container_dir.join(CONFIG_FILE);
        let unreadable = |source| EnrichError::Unreadable {
            path: path.clone(),
            source,
        };
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|file| file.take(CONFIG_LIMIT_BYTES + 1).read_to_end(&mut bytes))
            .map_err(unreadable)?;
        if bytes.len() as u64 > CONFIG_LIMIT_BYTES {
            return Err(EnrichError::TooLarge {
                path,
                limit_bytes: CONFIG_LIMIT_BYTES,
            });
        }
        let config: ConfigV2 =
            serde_json::from_slice(&bytes).map_err(|error| EnrichError::Malformed {
                path,
                category: match error.classify() {
                    serde_json::error::Category::Io => "i/o",
                    serde_json::error::Category::Syntax => "syntax",
                    serde_json::error::Category::Data => "schema",
                    serde_json::error::Category::Eof => "truncated",
                },
                line: error.line(),
                column: error.column(),
            })?;
        let section = config.config.unwrap_or_default();
        Ok(DockerContainer {
            id: config.id.as_deref().and_then(ContainerId::parse),
            name: config
                .name
                .map(|name| name.trim_start_matches('/').to_owned())
                .filter(|name| !name.is_empty()),
            image: section.image.filter(|image| !image.is_empty()),
            labels: section.labels.unwrap_or_default(),
        })
    }

    /// Sets the fields that are still unset, from the container's config when
    /// it could be read and from the directory name in any case.
    pub(super) fn fill(self, container: Option<DockerContainer>, resource: &mut Resource) {
        let container = container.unwrap_or_default();
        let id = container.id.unwrap_or(self.container_id);
        resource.container_id.get_or_insert(id.into_string());
        if resource.container_image.is_none() {
            resource.container_image = container.image;
        }
        let labels = container.labels;
        let label = |key: &str| labels.get(key).filter(|v| !v.is_empty()).cloned();
        if resource.namespace.is_none() {
            resource.namespace = label(K8S_POD_NAMESPACE_LABEL);
        }
        if resource.pod_name.is_none() {
            resource.pod_name = label(K8S_POD_NAME_LABEL);
        }
        if resource.pod_uid.is_none() {
            resource.pod_uid = label(K8S_POD_UID_LABEL);
        }
        if resource.restart_count.is_none() {
            resource.restart_count = label(K8S_RESTART_COUNT_LABEL).and_then(|n| n.parse().ok());
        }
        if resource.container_name.is_none() {
            // A dockershim container's Docker name is `k8s_<container>_<pod>_…`:
            // the Kubernetes container name is the one people know.
            resource.container_name = label(K8S_CONTAINER_NAME_LABEL).or(container.name);
        }
        if resource.labels.is_empty() {
            resource.labels = labels;
        }
    }
}

/// What wardwatch uses of a Docker container's definition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct DockerContainer {
    pub id: Option<ContainerId>,
    /// Without Docker's leading `/`.
    pub name: Option<String>,
    pub image: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// The fields of `config.v2.json` that are read. Unknown fields are ignored:
/// the file is Docker's, not ours, and grows with every release.
#[derive(Debug, Deserialize)]
struct ConfigV2 {
    #[serde(rename = "ID")]
    id: Option<String>,
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "Config")]
    config: Option<ConfigSection>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigSection {
    #[serde(rename = "Image")]
    image: Option<String>,
    #[serde(rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f2a9c81d3b7e6a05c1f8e2d9b4a7c3e6f0d1a2b3c4d5e6f7a8b9c0d1e2f3a4b";

    #[test]
    fn recognises_json_file_logs_and_rotations() {
        for file in [
            format!("{ID}-json.log"),
            format!("{ID}-json.log.1"),
            format!("{ID}-json.log.12"),
        ] {
            let path = format!("/var/lib/docker/containers/{ID}/{file}");
            let parsed = DockerLogPath::parse(Path::new(&path)).unwrap_or_else(|| panic!("{file}"));
            assert_eq!(parsed.container_id.into_string(), ID);
            assert_eq!(
                parsed.container_dir,
                Path::new(&format!("/var/lib/docker/containers/{ID}"))
            );
        }
    }

    #[test]
    fn other_files_are_not_docker_logs() {
        let other = "9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c";
        let cases = [
            format!("{ID}/{other}-json.log"),
            format!("{ID}/{ID}-json.log.gz"),
            format!("{ID}/{ID}-json.log."),
            format!("{ID}/{ID}.log"),
            format!("{ID}/config.v2.json"),
            format!("{}/{}-json.log", &ID[..12], &ID[..12]),
            format!("{ID}-json.log"),
        ];
        for case in &cases {
            let path = format!("/var/lib/docker/containers/{case}");
            assert_eq!(DockerLogPath::parse(Path::new(&path)), None, "{case}");
        }
        assert_eq!(
            DockerLogPath::parse(Path::new(&format!("{ID}-json.log"))),
            None
        );
    }

    #[test]
    fn reads_only_the_fields_it_needs() {
        let dir = tempfile::tempdir().unwrap();
        let container_dir = dir.path().join(ID);
        std::fs::create_dir(&container_dir).unwrap();
        std::fs::write(
            container_dir.join(CONFIG_FILE),
            format!(
                r#"{{"StreamConfig":{{}},"State":{{"Running":true,"Pid":4242}},"ID":"{ID}",
                "Config":{{"Hostname":"4f2a9c81d3b7","Env":["DB_PASSWORD=not-read"],
                "Image":"registry.example.org/clinic/billing-service:2.3.1",
                "Labels":{{"com.docker.compose.service":"billing-service"}}}},
                "Image":"sha256:0d1e","Name":"/clinic-billing-service-1","Driver":"overlay2"}}"#
            ),
        )
        .unwrap();
        let log = DockerLogPath::parse(&container_dir.join(format!("{ID}-json.log"))).unwrap();
        let container = log.read_container().expect("valid config");
        assert_eq!(
            container.id.map(ContainerId::into_string).as_deref(),
            Some(ID)
        );
        assert_eq!(container.name.as_deref(), Some("clinic-billing-service-1"));
        assert_eq!(
            container.image.as_deref(),
            Some("registry.example.org/clinic/billing-service:2.3.1")
        );
        assert_eq!(
            container
                .labels
                .get(COMPOSE_SERVICE_LABEL)
                .map(String::as_str),
            Some("billing-service")
        );
    }

    #[test]
    fn oversized_config_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let container_dir = dir.path().join(ID);
        std::fs::create_dir(&container_dir).unwrap();
        let file = File::create(container_dir.join(CONFIG_FILE)).unwrap();
        file.set_len(CONFIG_LIMIT_BYTES + 1).unwrap();
        let log = DockerLogPath::parse(&container_dir.join(format!("{ID}-json.log"))).unwrap();
        assert!(matches!(
            log.read_container(),
            Err(EnrichError::TooLarge { .. })
        ));
    }

    #[test]
    fn malformed_config_error_does_not_echo_values() {
        let dir = tempfile::tempdir().unwrap();
        let container_dir = dir.path().join(ID);
        std::fs::create_dir(&container_dir).unwrap();
        // A value of the wrong type: serde_json's own message would quote it.
        std::fs::write(
            container_dir.join(CONFIG_FILE),
            r#"{"Name":"/x","Config":{"Labels":"patient 900-00-0001"}}"#,
        )
        .unwrap();
        let log = DockerLogPath::parse(&container_dir.join(format!("{ID}-json.log"))).unwrap();
        let error = log.read_container().expect_err("labels must be a map");
        let message = error.to_string();
        assert!(message.contains("schema error"), "{message}");
        assert!(!message.contains("900-00-0001"), "{message}");
    }
}
