//! `service.name`, from names alone. The first of these that is known wins:
//!
//! 1. the compose label `com.docker.compose.service` (compose hosts);
//! 2. the label `app.kubernetes.io/name`, then `app` (Docker labels only: a
//!    CRI path carries no labels);
//! 3. for a pod, its workload's name, read off the pod's name (below);
//! 4. the container name.
//!
//! `app.kubernetes.io/instance`, which OpenTelemetry's convention puts before
//! `app.kubernetes.io/name`, is not used: a Helm release name often covers
//! several services. Sidecars (`istio-proxy`, …) get their workload's name, as
//! with the OpenTelemetry k8sattributes processor; `container.name` tells them
//! apart.
//!
//! # A workload's name from its pod's name
//!
//! The k8sattributes processor and Beyla follow the pod's owner references
//! through the API server (pod → ReplicaSet → Deployment) and use names only
//! as a fallback. wardwatch reads no API, so it undoes what the controllers
//! append to the workload's name:
//!
//! | owner | pod name | workload |
//! | --- | --- | --- |
//! | Deployment | `patient-service-7d9f8b6c4-x2x9z` | `patient-service` |
//! | CronJob | `nightly-export-28472340-x2x9z` | `nightly-export` |
//! | DaemonSet, Job, bare ReplicaSet | `node-exporter-x2x9z` | `node-exporter` |
//! | StatefulSet | `fhir-gateway-0` | `fhir-gateway` |
//! | static (mirror) pod | `kube-apiserver-<node name>` | `kube-apiserver` |
//!
//! The rules rest on how Kubernetes makes these names (`k8s.io/apimachinery`
//! `util/rand`, the Deployment and CronJob controllers):
//!
//! - The pod's suffix (`generateName`) is 5 characters of `rand.String`'s
//!   alphabet, `bcdfghjklmnpqrstvwxz2456789`: no vowels, no 0, 1 or 3.
//! - The pod-template-hash is `SafeEncodeString` of a decimal `u32`. Mapping
//!   the ten ASCII digits into that alphabet leaves only `bcdf456789`, and a
//!   `u32` has at most 10 digits. A hash is taken to be 6 to 10 of those
//!   characters: no word with a vowel (`api`, `exporter`) and no short
//!   consonant word (`grpc`, `v2`) can be one. A true hash is shorter than 6
//!   only for template hashes below 100 000, about 1 in 43 000.
//! - A CronJob's Job is `<cronjob>-<scheduled time>`, in minutes since the
//!   epoch (8 digits until 2160; seconds, 10 digits, before Kubernetes 1.21).
//!   The same rule strips the numeric hashes of pre-1.8 Deployments.
//! - A StatefulSet's pod is `<name>-<ordinal>`.
//! - A static pod's mirror is `<name>-<node name>`: recognised when the node
//!   name is `host.name`, i.e. when `NODE_NAME` is the Kubernetes node name.
//!
//! # Where the heuristic is wrong
//!
//! - Long names: `generateName` cuts the base to 58 characters before adding
//!   the suffix, so a Deployment or DaemonSet named close to that length loses
//!   the dash before the suffix. No rule matches; the container name is used.
//! - An Indexed Job's pod is `<job>-<index>-<suffix>`: the index stays
//!   (`reindex-3`), since a workload named `redis-6` cannot be told apart.
//! - A bare Pod named like a controller's pod (`migrate-2`, `debug-x2x9z`)
//!   loses its last part.
//! - A DaemonSet or Job whose last word is 6–10 of `bcdf456789`
//!   (`cache-bbbbbb`) loses that word too.
//! - A StatefulSet's ordinal of 5 digits from the suffix alphabet is stripped
//!   by the suffix rule instead: the result is the same.
//! - Operators with their own naming (Argo Rollouts follows the Deployment
//!   pattern and works; others may not) fall to whichever rule matches.
//! - A pod whose name matches no rule is taken to be a bare Pod and gets its
//!   container's name: for static pods on other nodes' paths, and for pods
//!   named by hand, the container name is the better service name.

use crate::event::Resource;

use super::docker::COMPOSE_SERVICE_LABEL;

const APP_NAME_LABEL: &str = "app.kubernetes.io/name";
const APP_LABEL: &str = "app";

/// `rand.String`'s alphabet: a pod's `generateName` suffix.
const RAND_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// The image of the ten decimal digits under `SafeEncodeString`: the only
/// characters of a pod-template-hash.
const TEMPLATE_HASH_ALPHABET: &[u8] = b"bcdf456789";

pub(super) fn service_name(resource: &Resource, host_name: &str) -> Option<String> {
    let label = |key: &str| resource.labels.get(key).filter(|v| !v.is_empty()).cloned();
    label(COMPOSE_SERVICE_LABEL)
        .or_else(|| label(APP_NAME_LABEL))
        .or_else(|| label(APP_LABEL))
        .or_else(|| {
            let pod_name = resource.pod_name.as_deref()?;
            workload_name(pod_name, host_name).map(str::to_owned)
        })
        .or_else(|| resource.container_name.clone())
}

/// The name of the workload that owns the pod `pod_name`, or `None` when the
/// name matches no controller's pattern.
pub(super) fn workload_name<'a>(pod_name: &'a str, node_name: &str) -> Option<&'a str> {
    if let Some(static_pod) = strip_node_name(pod_name, node_name) {
        return Some(static_pod);
    }
    if let Some(owner) = strip_segment(pod_name, is_pod_suffix) {
        let workload = strip_segment(owner, is_template_hash)
            .or_else(|| strip_segment(owner, is_scheduled_time))
            .unwrap_or(owner);
        return Some(workload);
    }
    strip_segment(pod_name, is_ordinal)
}

/// `base-segment` → `base`, when `segment` passes `is_kind` and `base` is not empty.
fn strip_segment(name: &str, is_kind: impl Fn(&str) -> bool) -> Option<&str> {
    let (base, segment) = name.rsplit_once('-')?;
    (!base.is_empty() && is_kind(segment)).then_some(base)
}

fn strip_node_name<'a>(pod_name: &'a str, node_name: &str) -> Option<&'a str> {
    if node_name.is_empty() {
        return None;
    }
    let split = pod_name.len().checked_sub(node_name.len())?;
    let tail = pod_name.get(split..)?;
    let base = pod_name.get(..split)?.strip_suffix('-')?;
    (tail.eq_ignore_ascii_case(node_name) && !base.is_empty()).then_some(base)
}

fn is_pod_suffix(segment: &str) -> bool {
    segment.len() == 5 && segment.bytes().all(|b| RAND_ALPHABET.contains(&b))
}

fn is_template_hash(segment: &str) -> bool {
    (6..=10).contains(&segment.len())
        && segment.bytes().all(|b| TEMPLATE_HASH_ALPHABET.contains(&b))
}

fn is_scheduled_time(segment: &str) -> bool {
    (8..=10).contains(&segment.len()) && segment.bytes().all(|b| b.is_ascii_digit())
}

fn is_ordinal(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const NODE: &str = "node-1";

    #[test]
    fn template_hash_alphabet_is_safe_encode_of_the_digits() {
        // SafeEncodeString maps each byte to RAND_ALPHABET[byte % 27].
        let mut encoded: Vec<u8> = (b'0'..=b'9')
            .map(|digit| RAND_ALPHABET[usize::from(digit) % RAND_ALPHABET.len()])
            .collect();
        encoded.sort_unstable();
        let mut expected = TEMPLATE_HASH_ALPHABET.to_vec();
        expected.sort_unstable();
        assert_eq!(encoded, expected);
    }

    #[test]
    fn workload_names() {
        let cases = [
            // Deployments
            ("patient-service-7d9f8b6c4-x2x9z", Some("patient-service")),
            (
                "appointment-service-5c8d7f9b46-q7wks",
                Some("appointment-service"),
            ),
            ("coredns-5d78c9869d-8gkwp", Some("coredns")),
            ("web-66b6c48dd5-4jw2p", Some("web")),
            ("api-v2-7d9f8b6c4-x2x9z", Some("api-v2")),
            ("billing-grpc-7d9f8b6c4-x2x9z", Some("billing-grpc")),
            ("lab.results-7d9f8b6c4-x2x9z", Some("lab.results")),
            ("web-2035384211-x2x9z", Some("web")), // pre-1.8 numeric hash
            // StatefulSets
            ("fhir-gateway-0", Some("fhir-gateway")),
            ("postgres-12", Some("postgres")),
            ("web-24567", Some("web")), // ordinal that looks like a suffix
            // DaemonSets and Jobs
            ("node-exporter-x2x9z", Some("node-exporter")),
            ("fluent-bit-4jw2p", Some("fluent-bit")),
            ("log-sync-bcdfg", Some("log-sync")),
            ("agent-v2-x2x9z", Some("agent-v2")),
            ("db-migrate-h8j2k", Some("db-migrate")),
            ("reindex-3-h8j2k", Some("reindex-3")), // Indexed Job: documented limit
            // CronJobs
            ("nightly-export-28472340-x2x9z", Some("nightly-export")),
            ("claims-batch-1709251200-x2x9z", Some("claims-batch")),
            // Static pods on this node
            ("kube-apiserver-node-1", Some("kube-apiserver")),
            ("etcd-node-1", Some("etcd")),
            // Plain pods and names no rule explains
            ("nginx", None),
            ("debug-shell", None),
            ("patient-service", None),
            ("patient-service-", None),
            ("-0", None),
            ("x2x9z", None),
            ("", None),
            ("patient-service-abcde", None), // vowels: not a generated suffix
            ("patient-service-x2x9", None),  // 4 characters
            ("patient-service-x2x9zz", None), // 6 characters
        ];
        for (pod, expected) in cases {
            assert_eq!(workload_name(pod, NODE), expected, "{pod}");
        }
    }

    #[test]
    fn words_that_are_not_hashes_stay() {
        // After the suffix, the last word is kept unless it could be a hash.
        let cases = [
            ("web-grpc-x2x9z", "web-grpc"), // consonants but outside bcdf4-9
            ("web-bbdd-x2x9z", "web-bbdd"), // hash alphabet but too short
            ("web-exporter-x2x9z", "web-exporter"),
            ("cache-bbbbbb-x2x9z", "cache"), // documented limit
        ];
        for (pod, expected) in cases {
            assert_eq!(workload_name(pod, NODE), Some(expected), "{pod}");
        }
    }

    #[test]
    fn static_pods_need_this_nodes_name() {
        assert_eq!(workload_name("kube-proxy-NODE-1", NODE), Some("kube-proxy"));
        assert_eq!(
            workload_name("kube-apiserver-node-2", NODE),
            Some("kube-apiserver-node")
        );
        assert_eq!(workload_name("node-1", NODE), Some("node"), "ordinal rule");
        assert_eq!(
            workload_name("xnode-1", NODE),
            Some("xnode"),
            "ordinal rule, not the node"
        );
        assert_eq!(workload_name("etcd-node-1", ""), Some("etcd-node"));
        assert_eq!(workload_name("é-node-1", "e-node-1"), Some("é-node"));
    }

    fn resource(labels: &[(&str, &str)], pod: Option<&str>, container: Option<&str>) -> Resource {
        Resource {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            pod_name: pod.map(str::to_owned),
            container_name: container.map(str::to_owned),
            ..Resource::default()
        }
    }

    #[test]
    fn precedence() {
        let pod = Some("patient-service-7d9f8b6c4-x2x9z");
        let cases = [
            (
                resource(
                    &[
                        (COMPOSE_SERVICE_LABEL, "billing-service"),
                        (APP_NAME_LABEL, "billing"),
                        (APP_LABEL, "b"),
                    ],
                    pod,
                    Some("c"),
                ),
                Some("billing-service"),
            ),
            (
                resource(
                    &[(APP_NAME_LABEL, "billing"), (APP_LABEL, "b")],
                    pod,
                    Some("c"),
                ),
                Some("billing"),
            ),
            (resource(&[(APP_LABEL, "b")], pod, Some("c")), Some("b")),
            (
                resource(
                    &[(COMPOSE_SERVICE_LABEL, ""), (APP_LABEL, "b")],
                    pod,
                    Some("c"),
                ),
                Some("b"),
            ),
            (resource(&[], pod, Some("c")), Some("patient-service")),
            (
                resource(&[], Some("debug-shell"), Some("shell")),
                Some("shell"),
            ),
            (
                resource(&[], None, Some("festive_babbage")),
                Some("festive_babbage"),
            ),
            (resource(&[], None, None), None),
        ];
        for (resource, expected) in cases {
            assert_eq!(
                service_name(&resource, NODE).as_deref(),
                expected,
                "{resource:?}"
            );
        }
    }
}
