//! `host.name`: which node the records come from.
//!
//! The kernel's host name is read from `/proc` rather than `gethostname(2)`:
//! same value, and no `unsafe` outside the eBPF loader.

/// When nothing names the host: a visible placeholder rather than an empty
/// field that dashboards would silently group together with real hosts.
const UNKNOWN_HOST: &str = "unknown";

/// The first non-blank of: the configured name, `$NODE_NAME`, the kernel's.
/// A blank configured value counts as unset, because `${NODE_NAME}`
/// interpolated from an unset variable is blank.
pub(super) fn resolve_host_name(
    configured: Option<&str>,
    node_name: Option<&str>,
    kernel: impl FnOnce() -> Option<String>,
) -> String {
    let non_blank = |name: &str| {
        let name = name.trim();
        (!name.is_empty()).then(|| name.to_owned())
    };
    configured
        .and_then(non_blank)
        .or_else(|| node_name.and_then(non_blank))
        .or_else(|| kernel().as_deref().and_then(non_blank))
        .unwrap_or_else(|| UNKNOWN_HOST.to_owned())
}

/// The UTS host name; inside a pod without `hostNetwork` this is the pod's
/// name, which is why `NODE_NAME` is preferred.
pub(super) fn kernel_host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel() -> Option<String> {
        Some("node-a.internal\n".to_owned())
    }

    #[test]
    fn configured_name_wins() {
        assert_eq!(
            resolve_host_name(Some("ward-7"), Some("node-b"), kernel),
            "ward-7"
        );
    }

    #[test]
    fn node_name_comes_before_the_kernel() {
        assert_eq!(resolve_host_name(None, Some("node-b"), kernel), "node-b");
    }

    #[test]
    fn kernel_name_is_trimmed() {
        assert_eq!(resolve_host_name(None, None, kernel), "node-a.internal");
    }

    #[test]
    fn blank_values_count_as_unset() {
        assert_eq!(
            resolve_host_name(Some(""), Some("  "), kernel),
            "node-a.internal"
        );
        assert_eq!(
            resolve_host_name(Some(" "), Some("node-b"), kernel),
            "node-b"
        );
    }

    #[test]
    fn nothing_known_gives_a_visible_placeholder() {
        assert_eq!(resolve_host_name(None, None, || None), UNKNOWN_HOST);
        assert_eq!(
            resolve_host_name(None, Some(""), || Some("\n".into())),
            UNKNOWN_HOST
        );
    }

    #[test]
    fn kernel_is_not_asked_when_not_needed() {
        let name = resolve_host_name(Some("ward-7"), None, || panic!("read /proc needlessly"));
        assert_eq!(name, "ward-7");
    }

    #[test]
    fn reads_this_machines_name() {
        // The agent runs on Linux only, where /proc is always mounted.
        let name = kernel_host_name().expect("readable");
        assert!(!name.trim().is_empty());
    }
}
