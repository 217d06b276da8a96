//! The kubelet's older flat names:
//! `/var/log/containers/<pod name>_<namespace>_<container name>-<container id>.log`,
//! symlinks into the CRI layout (or, on dockershim nodes, into Docker's).
//!
//! Pod and namespace cannot contain `_`, so the first two `_` split the name;
//! the container name may contain `-`, the id cannot and is always the full 64
//! hex digits, so the last `-` separates them.

use std::path::Path;

use super::container_id::ContainerId;
use super::last_components;
use crate::event::Resource;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ContainerLogLink {
    pub pod_name: String,
    pub namespace: String,
    pub container_name: String,
    pub container_id: ContainerId,
}

impl ContainerLogLink {
    pub(super) fn parse(path: &Path) -> Option<Self> {
        let [file] = last_components(path)?;
        let stem = file.strip_suffix(".log")?;
        let mut parts = stem.splitn(3, '_');
        let (pod_name, namespace, rest) = (parts.next()?, parts.next()?, parts.next()?);
        let (container_name, id) = rest.rsplit_once('-')?;
        let container_id = ContainerId::parse(id)?;
        let valid = !pod_name.is_empty()
            && !namespace.is_empty()
            && !container_name.is_empty()
            && !rest.contains('_');
        valid.then(|| ContainerLogLink {
            pod_name: pod_name.to_owned(),
            namespace: namespace.to_owned(),
            container_name: container_name.to_owned(),
            container_id,
        })
    }

    /// Sets the fields that are still unset.
    pub(super) fn fill(self, resource: &mut Resource) {
        resource.namespace.get_or_insert(self.namespace);
        resource.pod_name.get_or_insert(self.pod_name);
        resource.container_name.get_or_insert(self.container_name);
        resource
            .container_id
            .get_or_insert(self.container_id.into_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c";

    #[test]
    fn reads_pod_namespace_container_and_id() {
        let path = format!("/var/log/containers/appointment-service-5c8d7f9b46-q7wks_cardiology-prod_appointment-service-{ID}.log");
        let link = ContainerLogLink::parse(Path::new(&path)).expect("kubelet link name");
        assert_eq!(link.pod_name, "appointment-service-5c8d7f9b46-q7wks");
        assert_eq!(link.namespace, "cardiology-prod");
        assert_eq!(link.container_name, "appointment-service");
        assert_eq!(link.container_id.into_string(), ID);
    }

    #[test]
    fn dotted_pod_names_and_relative_paths() {
        let path = format!("etcd-node-1.example.org_kube-system_etcd-{ID}.log");
        let link = ContainerLogLink::parse(Path::new(&path)).expect("bare file name");
        assert_eq!(link.pod_name, "etcd-node-1.example.org");
        assert_eq!(link.container_name, "etcd");
    }

    #[test]
    fn other_names_are_not_links() {
        let cases = [
            format!("pod_ns_app-{}.log", &ID[..12]),
            format!("pod_ns_app{ID}.log"),
            format!("pod_ns_app-{ID}.log.1"),
            format!("pod_ns_app-{ID}"),
            format!("pod_app-{ID}.log"),
            format!("pod_ns_a_b-{ID}.log"),
            format!("_ns_app-{ID}.log"),
            format!("pod__app-{ID}.log"),
            format!("pod_ns_-{ID}.log"),
            format!("{ID}-json.log"),
            "0.log".to_owned(),
        ];
        for file in &cases {
            let path = format!("/var/log/containers/{file}");
            assert_eq!(ContainerLogLink::parse(Path::new(&path)), None, "{file}");
        }
    }
}
