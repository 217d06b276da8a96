//! Container → pod, namespace, service and tenant metadata for a log file.
//!
//! Everything comes from the file's path and, for Docker, the `config.v2.json`
//! the runtime keeps beside the log. No API server is asked: pod labels and
//! owner references would need a watch on every pod of the cluster and the
//! RBAC to read them, while the node's own files already name the namespace,
//! pod and container, and are there before the first line is read.
//!
//! Layouts recognised, by their last path components only (so the kubelet's
//! `podLogsDir`, Docker's `data-root` or a test's temp dir may be anywhere):
//!
//! | layout | file | what it gives |
//! | --- | --- | --- |
//! | kubelet CRI (`pod_log_path.rs`) | `<namespace>_<pod>_<uid>/<container>/<restart>.log` | namespace, pod, uid, container, restart count |
//! | kubelet symlink (`container_log_link.rs`) | `containers/<pod>_<namespace>_<container>-<id>.log` | namespace, pod, container, container id; the rest from the link's target |
//! | Docker json-file (`docker.rs`) | `containers/<id>/<id>-json.log` + `config.v2.json` | container id, name, image, labels; pod fields from dockershim's labels |
//!
//! Any other path gives a [`Resource`] with only `host.name` and `log.file.path`:
//! enrichment never stops a file from being read.
//!
//! `service.name` is the first known of: the compose label
//! `com.docker.compose.service`; the label `app.kubernetes.io/name`, then
//! `app`; the pod's workload, read off the pod's name; the container name.
//! The workload is what remains once the controller's additions are removed:
//! a Deployment's `-<pod-template-hash>-<suffix>`, a CronJob's
//! `-<scheduled minute>-<suffix>`, a DaemonSet's or Job's `-<suffix>`, a
//! StatefulSet's `-<ordinal>`, a static pod's `-<node name>`. Each part is
//! recognised by the alphabet and length Kubernetes generates it with, so a
//! name's own words (`api-v2`, `node-exporter`) are kept. It is a guess:
//! names near the 63-character limit, Indexed Jobs and bare pods named like
//! a controller's pods come out wrong; `service.rs` has the rules, the facts
//! they rest on and every known limit.
//!
//! `tenant.id` is the namespace, mapped through [`EnrichConfig::tenants`], or
//! the compose project on compose hosts (not mapped: the table is by
//! namespace).
//!
//! Nothing is cached: [`Enricher::resource_for`] runs once per file, when the
//! file is first opened, and its one read (`config.v2.json`) is small.

mod container_id;
mod container_log_link;
mod docker;
mod host;
mod pod_log_path;
mod process;
mod service;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

pub use process::{CgroupPlacement, ContainerDirectory, ProcessAttribution};

use std::sync::Arc;

use crate::config::EnrichConfig;
use crate::event::Resource;

use container_log_link::ContainerLogLink;
use docker::DockerLogPath;
use pod_log_path::PodLogPath;

/// Builds the [`Resource`] of each log file the agent follows.
#[derive(Clone, Debug)]
pub struct Enricher {
    host_name: String,
    tenants: BTreeMap<String, String>,
    /// Every resource made here, by container and pod, for the network
    /// capture's attribution of processes.
    directory: Arc<ContainerDirectory>,
}

impl Enricher {
    /// `host.name` is `config.host_name`, else `$NODE_NAME`, else the kernel's
    /// host name (which, inside a pod without `hostNetwork`, is the pod's name:
    /// hence `NODE_NAME` from the downward API comes first).
    pub fn new(config: &EnrichConfig) -> Self {
        let node_name = std::env::var("NODE_NAME").ok();
        Enricher {
            host_name: host::resolve_host_name(
                config.host_name.as_deref(),
                node_name.as_deref(),
                host::kernel_host_name,
            ),
            tenants: config.tenants.clone(),
            directory: Arc::default(),
        }
    }

    /// The host name records are stamped with.
    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    /// What the log files opened so far say about containers and pods.
    pub fn directory(&self) -> Arc<ContainerDirectory> {
        self.directory.clone()
    }

    /// The resource of the records read from `log_path`. Never fails: what
    /// cannot be learnt is left unset.
    pub fn resource_for(&self, log_path: &Path) -> Resource {
        let mut resource = Resource {
            host_name: self.host_name.clone(),
            log_file_path: log_path.to_string_lossy().into_owned(),
            ..Resource::default()
        };
        if let Some(link) = ContainerLogLink::parse(log_path) {
            link.fill(&mut resource);
            // The link's name lacks the pod uid, the restart count and, on
            // dockershim nodes, the image: its target has them.
            if let Some(target) = link_target(log_path) {
                self.fill_from_layout(&target, &mut resource);
            }
        } else {
            self.fill_from_layout(log_path, &mut resource);
        }
        resource.service_name = service::service_name(&resource, &self.host_name);
        resource.tenant_id = self.tenant_id(&resource);
        self.directory.learn(&resource);
        resource
    }

    /// Fills what is still unset from a CRI or Docker layout at `path`.
    fn fill_from_layout(&self, path: &Path, resource: &mut Resource) {
        if let Some(pod_log) = PodLogPath::parse(path) {
            pod_log.fill(resource);
        } else if let Some(docker_log) = DockerLogPath::parse(path) {
            let container = match docker_log.read_container() {
                Ok(container) => Some(container),
                Err(error) => {
                    report_unreadable_metadata(&error);
                    None
                }
            };
            docker_log.fill(container, resource);
        }
    }

    fn tenant_id(&self, resource: &Resource) -> Option<String> {
        if let Some(namespace) = &resource.namespace {
            let tenant = self.tenants.get(namespace).unwrap_or(namespace);
            return Some(tenant.clone());
        }
        resource
            .labels
            .get(docker::COMPOSE_PROJECT_LABEL)
            .filter(|project| !project.is_empty())
            .cloned()
    }
}

/// The last `N` components of `path`, all of them plain UTF-8 names.
fn last_components<const N: usize>(path: &Path) -> Option<[&str; N]> {
    let mut names = [""; N];
    let mut components = path.components().rev();
    for slot in names.iter_mut().rev() {
        match components.next()? {
            Component::Normal(name) => *slot = name.to_str()?,
            _ => return None,
        }
    }
    Some(names)
}

/// Where a `/var/log/containers` symlink points, made absolute against the
/// link's directory (the kubelet writes relative targets on some versions).
fn link_target(link: &Path) -> Option<PathBuf> {
    let target = std::fs::read_link(link).ok()?;
    if target.is_absolute() {
        Some(target)
    } else {
        Some(link.parent()?.join(target))
    }
}

/// A missing `config.v2.json` is ordinary (a container being removed, a copied
/// log tree); anything else means the runtime's files are not what we expect.
fn report_unreadable_metadata(error: &EnrichError) {
    match error {
        EnrichError::Unreadable { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            tracing::debug!(error = %error, "container metadata unavailable");
        }
        _ => tracing::warn!(error = %error, "container metadata unavailable"),
    }
}

/// Why a runtime metadata file could not be used. Never carries the file's
/// content: a JSON error says where and what kind, not which value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnrichError {
    #[error("cannot read container config {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("container config {} is larger than {limit_bytes} bytes", path.display())]
    TooLarge { path: PathBuf, limit_bytes: u64 },
    #[error("container config {} is not valid ({category} error at line {line}, column {column})", path.display())]
    Malformed {
        path: PathBuf,
        category: &'static str,
        line: usize,
        column: usize,
    },
}
