//! The kubelet's CRI log layout:
//! `<pods dir>/<namespace>_<pod name>_<pod uid>/<container>/<restart count>.log`.
//!
//! The three parts of the pod directory can be told apart because namespace
//! and pod names are DNS names (no `_`) and the uid is a UUID, or for static
//! pods a hex hash. Names are checked against those alphabets (lowercase,
//! digits, `-`, and `.` in pod names), so that a tree such as
//! `Billing_Logs_2024/App/0.log` is not mistaken for a pod's.
//!
//! The kubelet rotates `0.log` to `0.log.20240102-030405` and may gzip it;
//! those names keep their restart count. A file whose name carries no count
//! still belongs to the pod: its pod fields are filled, its count left unset.

use std::path::Path;

use super::last_components;
use crate::event::Resource;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PodLogPath {
    pub namespace: String,
    pub pod_name: String,
    pub pod_uid: String,
    pub container_name: String,
    pub restart_count: Option<u32>,
}

impl PodLogPath {
    pub(super) fn parse(path: &Path) -> Option<Self> {
        let [pod_dir, container, file] = last_components(path)?;
        let (namespace, rest) = pod_dir.split_once('_')?;
        let (pod_name, pod_uid) = rest.rsplit_once('_')?;
        let valid = is_dns_label(namespace)
            && is_dns_subdomain(pod_name)
            && is_dns_label(pod_uid)
            && is_dns_label(container);
        valid.then(|| PodLogPath {
            namespace: namespace.to_owned(),
            pod_name: pod_name.to_owned(),
            pod_uid: pod_uid.to_owned(),
            container_name: container.to_owned(),
            restart_count: restart_count(file),
        })
    }

    /// Sets the fields that are still unset.
    pub(super) fn fill(self, resource: &mut Resource) {
        resource.namespace.get_or_insert(self.namespace);
        resource.pod_name.get_or_insert(self.pod_name);
        resource.pod_uid.get_or_insert(self.pod_uid);
        resource.container_name.get_or_insert(self.container_name);
        if resource.restart_count.is_none() {
            resource.restart_count = self.restart_count;
        }
    }
}

/// `3.log` → 3, also `3.log.20240102-030405` and `3.log.20240102-030405.gz`.
fn restart_count(file: &str) -> Option<u32> {
    let (count, rest) = file.split_once('.')?;
    let is_log = rest == "log" || rest.starts_with("log.");
    let all_digits = !count.is_empty() && count.bytes().all(|b| b.is_ascii_digit());
    if is_log && all_digits {
        count.parse().ok()
    } else {
        None
    }
}

/// RFC 1123 label: namespaces, container names, uids.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: pod names, which may contain dots.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "3f6c2a9e-8b1d-4e57-9a0c-2d7b5e1f4a63";

    fn parse(path: &str) -> Option<PodLogPath> {
        PodLogPath::parse(Path::new(path))
    }

    #[test]
    fn reads_every_part_of_a_kubelet_path() {
        let path = format!("/var/log/pods/cardiology-prod_patient-service-7d9f8b6c4-x2x9z_{UID}/patient-service/0.log");
        assert_eq!(
            parse(&path),
            Some(PodLogPath {
                namespace: "cardiology-prod".into(),
                pod_name: "patient-service-7d9f8b6c4-x2x9z".into(),
                pod_uid: UID.into(),
                container_name: "patient-service".into(),
                restart_count: Some(0),
            })
        );
    }

    #[test]
    fn any_prefix_and_relative_paths_work() {
        for prefix in [
            "",
            "/tmp/.tmpAbC123/var/log/pods/",
            "examples/node/var/log/pods/",
            "./",
        ] {
            let path = format!("{prefix}ns_pod-0_{UID}/app/2.log");
            let parsed = parse(&path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(parsed.pod_name, "pod-0");
            assert_eq!(parsed.restart_count, Some(2));
        }
    }

    #[test]
    fn names_with_dashes_and_dots() {
        let path = format!(
            "/var/log/pods/kube-system_etcd-node-1.cluster.example.org_{UID}/etcd-main/0.log"
        );
        let parsed = parse(&path).expect("dotted pod name");
        assert_eq!(parsed.namespace, "kube-system");
        assert_eq!(parsed.pod_name, "etcd-node-1.cluster.example.org");
        assert_eq!(parsed.container_name, "etcd-main");
    }

    #[test]
    fn static_pod_uid_is_a_hex_hash() {
        let path = "/var/log/pods/kube-system_kube-apiserver-node-1_9f86d081884c7d659a2feaa0c55ad015/kube-apiserver/3.log";
        let parsed = parse(path).expect("static pod");
        assert_eq!(parsed.pod_uid, "9f86d081884c7d659a2feaa0c55ad015");
        assert_eq!(parsed.restart_count, Some(3));
    }

    #[test]
    fn restart_counts() {
        let cases = [
            ("0.log", Some(0)),
            ("17.log", Some(17)),
            ("4294967295.log", Some(u32::MAX)),
            ("4294967296.log", None),
            ("0.log.20240102-030405", Some(0)),
            ("5.log.20240102-030405.gz", Some(5)),
            ("current.log", None),
            ("1a.log", None),
            (".log", None),
            ("0.logs", None),
            ("0.txt", None),
            ("+1.log", None),
        ];
        for (file, expected) in cases {
            assert_eq!(restart_count(file), expected, "{file}");
            let path = format!("ns_pod_{UID}/app/{file}");
            let parsed = parse(&path).expect("pod fields are filled whatever the file name");
            assert_eq!(parsed.restart_count, expected, "{file}");
        }
    }

    #[test]
    fn odd_paths_are_not_pod_logs() {
        let cases = [
            "0.log".to_owned(),
            "app/0.log".to_owned(),
            format!("/{UID}/app/0.log"),
            "/var/log/pods/ns_pod/app/0.log".to_owned(),
            format!("/var/log/pods/_pod_{UID}/app/0.log"),
            format!("/var/log/pods/ns__{UID}/app/0.log"),
            "/var/log/pods/ns_pod_/app/0.log".to_owned(),
            format!("/var/log/pods/Cardiology_pod_{UID}/app/0.log"),
            "/srv/Billing_Logs_2024/App/0.log".to_owned(),
            format!("/var/log/pods/ns_pod_{UID}/App_1/0.log"),
            format!("/var/log/pods/ns_-pod_{UID}/app/0.log"),
            format!("/var/log/pods/ns_pod..x_{UID}/app/0.log"),
            format!("/var/log/pods/ns_pod_{UID}/../0.log"),
            "/var/lib/docker/containers/4f2a/4f2a-json.log".to_owned(),
        ];
        for path in &cases {
            assert_eq!(parse(path), None, "{path}");
        }
    }

    #[test]
    fn fill_keeps_what_is_already_known() {
        let mut resource = Resource {
            pod_uid: Some("from-elsewhere".into()),
            ..Resource::default()
        };
        parse(&format!("ns_pod_{UID}/app/1.log"))
            .unwrap()
            .fill(&mut resource);
        assert_eq!(resource.pod_uid.as_deref(), Some("from-elsewhere"));
        assert_eq!(resource.namespace.as_deref(), Some("ns"));
        assert_eq!(resource.restart_count, Some(1));
    }
}
