//! Container → pod, namespace, service and tenant metadata for a log file.
