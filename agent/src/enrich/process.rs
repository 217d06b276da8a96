//! pid → cgroup → container → pod: the [`Resource`] of a captured process.
//!
//! A process's cgroup path (`/proc/<pid>/cgroup`) names its container the
//! way every runtime lays out cgroups: the container id is the last
//! component's 64 hex digits (`cri-containerd-<id>.scope`, `docker-<id>.scope`,
//! `crio-<id>.scope`, `/docker/<id>`, `/kubepods/burstable/pod<uid>/<id>`), and
//! the kubelet's slice names the pod uid (`pod<uid>`, with `_` for `-` under
//! the systemd driver). Neither names the pod or the service: those come from
//! the [`ContainerDirectory`], which the log source fills as it opens each
//! container's log file, so network exchanges carry the same metadata as
//! the container's logs. A process in no container is a host process: its
//! resource has no container fields and its `service.name` is
//! `unknown_service:<executable>`, as the OpenTelemetry resource conventions
//! name a service nobody named.
//!
//! The answer is cached per cgroup id (every process of a container shares
//! one), so `/proc` is read once per container, not once per exchange. A
//! cached answer is made again when the directory has learnt something since.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::container_id::ContainerId;
use crate::event::Resource;

/// How many cgroups' answers are kept. A node runs a few hundred containers;
/// past the cap the cache starts again rather than growing.
const CACHE_CAP: usize = 4096;

/// What the log source has learnt about containers, by container id and by
/// pod uid. Shared by every clone of the [`super::Enricher`].
#[derive(Debug, Default)]
pub struct ContainerDirectory {
    known: RwLock<Known>,
    /// Bumped on every change, so cached answers know they may be stale.
    generation: AtomicU64,
}

#[derive(Debug, Default)]
struct Known {
    by_container: HashMap<String, Arc<Resource>>,
    by_pod_uid: HashMap<String, Arc<Resource>>,
}

impl ContainerDirectory {
    /// Remembers the resource of a log file, under its container id and its
    /// pod uid when it has them.
    pub fn learn(&self, resource: &Resource) {
        if resource.container_id.is_none() && resource.pod_uid.is_none() {
            return;
        }
        let shared = Arc::new(resource.clone());
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = &resource.container_id {
            known.by_container.insert(id.clone(), shared.clone());
        }
        if let Some(uid) = &resource.pod_uid {
            known.by_pod_uid.insert(uid.clone(), shared);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn lookup(&self, container_id: Option<&str>, pod_uid: Option<&str>) -> Lookup {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = container_id.and_then(|id| known.by_container.get(id)) {
            return Lookup::Container(found.clone());
        }
        match pod_uid.and_then(|uid| known.by_pod_uid.get(uid)) {
            Some(found) => Lookup::Pod(found.clone()),
            None => Lookup::Unknown,
        }
    }
}

enum Lookup {
    /// The container's own log resource.
    Container(Arc<Resource>),
    /// Another container of the same pod.
    Pod(Arc<Resource>),
    Unknown,
}

/// Where a process runs, as its cgroup path says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupPlacement {
    pub container_id: Option<String>,
    pub pod_uid: Option<String>,
}

impl CgroupPlacement {
    /// Reads the placement from the text of `/proc/<pid>/cgroup`. With cgroup
    /// v1 several hierarchies are listed; the first that names a container
    /// wins.
    pub fn parse(proc_cgroup: &str) -> CgroupPlacement {
        let mut placement = CgroupPlacement::default();
        for line in proc_cgroup.lines() {
            // `hierarchy-id:controllers:path`; the path may hold colons.
            let Some(path) = line.splitn(3, ':').nth(2) else {
                continue;
            };
            let found = Self::of_path(path);
            if found.container_id.is_some() {
                return found;
            }
            if placement.pod_uid.is_none() {
                placement.pod_uid = found.pod_uid;
            }
        }
        placement
    }

    fn of_path(path: &str) -> CgroupPlacement {
        let mut placement = CgroupPlacement::default();
        for component in path.split('/').filter(|c| !c.is_empty()) {
            let name = component.strip_suffix(".scope").unwrap_or(component);
            let name = name.strip_suffix(".slice").unwrap_or(name);
            // The id is what follows the runtime's prefix, if any.
            let candidate = name.rsplit('-').next().unwrap_or(name);
            if let Some(id) = ContainerId::parse(candidate) {
                placement.container_id = Some(id.into_string());
            }
            if let Some(uid) = pod_uid(name) {
                placement.pod_uid = Some(uid);
            }
        }
        placement
    }
}

/// `pod<uid>` (cgroupfs driver) or `kubepods-<qos>-pod<uid_with_underscores>`
/// (systemd driver).
fn pod_uid(name: &str) -> Option<String> {
    let at = name.rfind("pod")?;
    let uid = name[at + 3..].replace('_', "-");
    let is_uid = uid.len() == 36
        && uid.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    is_uid.then_some(uid)
}

/// Finds the resource of captured processes.
#[derive(Debug)]
pub struct ProcessAttribution {
    host_name: String,
    directory: Arc<ContainerDirectory>,
    proc_root: PathBuf,
    cache: Mutex<HashMap<Key, (u64, Arc<Resource>)>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Cgroup(u64),
    Pid(u32),
}

impl ProcessAttribution {
    pub fn new(host_name: String, directory: Arc<ContainerDirectory>) -> Self {
        Self::with_proc_root(host_name, directory, PathBuf::from("/proc"))
    }

    /// Reads processes under `proc_root` instead of `/proc` (tests; or an
    /// agent whose host `/proc` is mounted elsewhere).
    pub fn with_proc_root(
        host_name: String,
        directory: Arc<ContainerDirectory>,
        proc_root: PathBuf,
    ) -> Self {
        ProcessAttribution {
            host_name,
            directory,
            proc_root,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The resource of process `pid`, which ran in cgroup `cgroup_id`.
    /// Never fails: a process that is gone by now and was never seen gets a
    /// resource with only `host.name`.
    pub fn resource_for(&self, pid: u32, cgroup_id: u64) -> Arc<Resource> {
        let generation = self.directory.generation.load(Ordering::Acquire);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // Containers are cached by cgroup; host processes share theirs (the
        // root, or a systemd slice) but are named by their executable, so
        // they are cached by pid.
        for key in [Key::Cgroup(cgroup_id), Key::Pid(pid)] {
            if let Some((seen, resource)) = cache.get(&key) {
                if *seen == generation {
                    return resource.clone();
                }
            }
        }
        let resource = Arc::new(self.resolve(pid));
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        let in_container = resource.container_id.is_some() || resource.pod_uid.is_some();
        let key = if in_container {
            Key::Cgroup(cgroup_id)
        } else {
            Key::Pid(pid)
        };
        cache.insert(key, (generation, resource.clone()));
        resource
    }

    fn resolve(&self, pid: u32) -> Resource {
        let process = self.proc_root.join(pid.to_string());
        let mut resource = Resource {
            host_name: self.host_name.clone(),
            ..Resource::default()
        };
        let Ok(cgroup) = std::fs::read_to_string(process.join("cgroup")) else {
            return resource;
        };
        let placement = CgroupPlacement::parse(&cgroup);
        if placement.container_id.is_none() && placement.pod_uid.is_none() {
            let executable = std::fs::read_to_string(process.join("comm"))
                .map(|comm| comm.trim_end().to_owned())
                .unwrap_or_default();
            resource.service_name = Some(format!("unknown_service:{executable}"));
            return resource;
        }
        match self.directory.lookup(
            placement.container_id.as_deref(),
            placement.pod_uid.as_deref(),
        ) {
            Lookup::Container(known) => {
                resource = Resource {
                    host_name: self.host_name.clone(),
                    log_file_path: String::new(),
                    ..(*known).clone()
                };
            }
            Lookup::Pod(known) => {
                // The pod's fields, not the other container's.
                resource.namespace = known.namespace.clone();
                resource.pod_name = known.pod_name.clone();
                resource.pod_uid = known.pod_uid.clone();
                resource.service_name = known.service_name.clone();
                resource.tenant_id = known.tenant_id.clone();
            }
            Lookup::Unknown => {}
        }
        resource.container_id = placement.container_id.or(resource.container_id);
        resource.pod_uid = placement.pod_uid.or(resource.pod_uid);
        resource
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f2a9c81d3b7e6a05c1f8e2d9b4a7c3e6f0d1a2b3c4d5e6f7a8b9c0d1e2f3a4b";
    const UID: &str = "6c1e9f2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn placements_of_every_runtime_layout() {
        let systemd = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{ID}.scope\n",
            UID.replace('-', "_")
        );
        let cgroupfs = format!("0::/kubepods/burstable/pod{UID}/{ID}\n");
        let crio = format!(
            "0::/kubepods.slice/kubepods-pod{}.slice/crio-{ID}.scope\n",
            UID.replace('-', "_")
        );
        for text in [&systemd, &cgroupfs, &crio] {
            let placement = CgroupPlacement::parse(text);
            assert_eq!(placement.container_id.as_deref(), Some(ID), "{text}");
            assert_eq!(placement.pod_uid.as_deref(), Some(UID), "{text}");
        }
        let docker = CgroupPlacement::parse(&format!("0::/system.slice/docker-{ID}.scope\n"));
        assert_eq!(docker.container_id.as_deref(), Some(ID));
        assert_eq!(docker.pod_uid, None);
        let v1 =
            format!("12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n1:name=systemd:/docker/{ID}\n");
        assert_eq!(
            CgroupPlacement::parse(&v1).container_id.as_deref(),
            Some(ID)
        );
        let host = CgroupPlacement::parse("0::/user.slice/user-0.slice/session-3.scope\n");
        assert_eq!(host, CgroupPlacement::default());
    }

    fn fake_proc(pid: u32, cgroup: &str, comm: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup"), cgroup).unwrap();
        std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        root
    }

    #[test]
    fn a_container_process_gets_its_logs_metadata_once_learnt() {
        let root = fake_proc(
            42,
            &format!("0::/kubepods/besteffort/pod{UID}/{ID}\n"),
            "java",
        );
        let directory = Arc::new(ContainerDirectory::default());
        let attribution = ProcessAttribution::with_proc_root(
            "node-a".into(),
            directory.clone(),
            root.path().to_path_buf(),
        );
        let before = attribution.resource_for(42, 7);
        assert_eq!(before.container_id.as_deref(), Some(ID));
        assert_eq!(before.pod_uid.as_deref(), Some(UID));
        assert_eq!(before.service_name, None);

        directory.learn(&Resource {
            host_name: "node-a".into(),
            log_file_path: "/var/log/pods/x/y/0.log".into(),
            namespace: Some("clinical".into()),
            pod_name: Some("patient-service-7d9f8b6c5-x2k4q".into()),
            pod_uid: Some(UID.into()),
            container_name: Some("patient-service".into()),
            container_id: Some(ID.into()),
            service_name: Some("patient-service".into()),
            tenant_id: Some("clinical".into()),
            ..Resource::default()
        });
        let after = attribution.resource_for(42, 7);
        assert_eq!(after.service_name.as_deref(), Some("patient-service"));
        assert_eq!(after.namespace.as_deref(), Some("clinical"));
        assert_eq!(after.container_name.as_deref(), Some("patient-service"));
        assert_eq!(after.log_file_path, "", "an exchange has no log file");
    }

    #[test]
    fn a_sidecar_gets_the_pods_fields_but_not_the_other_containers() {
        let sidecar = "9".repeat(64);
        let root = fake_proc(43, &format!("0::/kubepods/pod{UID}/{sidecar}\n"), "envoy");
        let directory = Arc::new(ContainerDirectory::default());
        directory.learn(&Resource {
            pod_name: Some("billing-0".into()),
            pod_uid: Some(UID.into()),
            container_name: Some("billing".into()),
            service_name: Some("billing".into()),
            ..Resource::default()
        });
        let attribution =
            ProcessAttribution::with_proc_root("n".into(), directory, root.path().to_path_buf());
        let resource = attribution.resource_for(43, 8);
        assert_eq!(resource.pod_name.as_deref(), Some("billing-0"));
        assert_eq!(resource.container_name, None);
        assert_eq!(resource.container_id.as_deref(), Some(sidecar.as_str()));
    }

    #[test]
    fn host_and_vanished_processes() {
        let root = fake_proc(44, "0::/system.slice/nginx.service\n", "nginx");
        let attribution = ProcessAttribution::with_proc_root(
            "node-a".into(),
            Arc::default(),
            root.path().to_path_buf(),
        );
        let host = attribution.resource_for(44, 9);
        assert_eq!(host.service_name.as_deref(), Some("unknown_service:nginx"));
        assert_eq!(host.container_id, None);
        // Another host process in the same cgroup is named for itself.
        let other = root.path().join("45");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("cgroup"), "0::/system.slice/nginx.service\n").unwrap();
        std::fs::write(other.join("comm"), "postgres\n").unwrap();
        assert_eq!(
            attribution.resource_for(45, 9).service_name.as_deref(),
            Some("unknown_service:postgres")
        );
        let gone = attribution.resource_for(99, 10);
        assert_eq!(gone.host_name, "node-a");
        assert_eq!(gone.service_name, None);
    }

    #[test]
    fn this_test_process_is_attributed_from_the_real_proc() {
        let attribution = ProcessAttribution::new("node-a".into(), Arc::default());
        let resource = attribution.resource_for(std::process::id(), 1);
        assert_eq!(resource.host_name, "node-a");
        assert!(resource.service_name.is_some() || resource.container_id.is_some());
    }
}
