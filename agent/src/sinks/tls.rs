//! Client TLS for the sinks that leave the node over HTTPS or gRPC.
//!
//! Hospital clusters usually sign their internal endpoints with a private
//! CA and often ask for mutual TLS, so both are settings here rather than
//! something a sidecar proxy has to add. The files are read once, when the
//! sink starts: a missing or unreadable file stops the agent with the path
//! in the message instead of failing every request later.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `tls:` under a sink.
///
/// ```yaml
/// tls:
///   ca_file: /etc/wardwatch/tls/ca.pem
///   cert_file: /etc/wardwatch/tls/client.pem
///   key_file: /etc/wardwatch/tls/client-key.pem
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA certificates that sign the receiver. When set,
    /// only these are trusted (as Prometheus does); otherwise the public
    /// web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for mutual TLS; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate. For a test bench only: it gives up
    /// knowing who receives the data.
    pub insecure_skip_verify: bool,
}

/// The certificate files, read.
pub struct TlsFiles {
    ca: Option<Vec<u8>>,
    /// Certificate chain then key, as one PEM.
    identity: Option<(Vec<u8>, Vec<u8>)>,
    insecure_skip_verify: bool,
}

impl TlsConfig {
    /// Reads the files; `at` names the setting in errors
    /// (`sinks.remote_write.tls`).
    pub fn read(&self, at: &str) -> anyhow::Result<TlsFiles> {
        let read = |field: &str, path: &Path| -> anyhow::Result<Vec<u8>> {
            let bytes = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("{at}.{field} {}: {e}", path.display()))?;
            // A PEM file without a BEGIN line is the usual mistake (a DER
            // file, a path to the wrong secret key); say so here rather than
            // as a handshake failure later.
            anyhow::ensure!(
                memchr::memmem::find(&bytes, b"-----BEGIN ").is_some(),
                "{at}.{field} {}: not a PEM file (no -----BEGIN line)",
                path.display()
            );
            Ok(bytes)
        };
        let ca = self
            .ca_file
            .as_deref()
            .map(|p| read("ca_file", p))
            .transpose()?;
        let identity = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some((read("cert_file", cert)?, read("key_file", key)?)),
            (None, None) => None,
            _ => anyhow::bail!("{at}: cert_file and key_file go together (mutual TLS)"),
        };
        Ok(TlsFiles {
            ca,
            identity,
            insecure_skip_verify: self.insecure_skip_verify,
        })
    }
}

impl TlsFiles {
    /// `builder` with these settings; `at` names the setting in errors.
    pub fn reqwest(
        &self,
        mut builder: reqwest::ClientBuilder,
        at: &str,
    ) -> anyhow::Result<reqwest::ClientBuilder> {
        if let Some(ca) = &self.ca {
            let roots = reqwest::Certificate::from_pem_bundle(ca)
                .map_err(|e| anyhow::anyhow!("{at}.ca_file: {e}"))?;
            builder = builder.tls_built_in_root_certs(false);
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        if let Some((cert, key)) = &self.identity {
            let mut pem = cert.clone();
            pem.push(b'\n');
            pem.extend_from_slice(key);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| anyhow::anyhow!("{at}.cert_file/key_file: {e}"))?;
            builder = builder.identity(identity);
        }
        Ok(builder.danger_accept_invalid_certs(self.insecure_skip_verify))
    }

    /// The same for a gRPC channel.
    pub fn tonic(&self, at: &str) -> anyhow::Result<tonic::transport::ClientTlsConfig> {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        anyhow::ensure!(
            !self.insecure_skip_verify,
            "{at}.insecure_skip_verify is not supported over grpc; use ca_file"
        );
        let mut config = ClientTlsConfig::new();
        config = match &self.ca {
            Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
            None => config.with_webpki_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_non_pem_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let der = dir.path().join("ca.der");
        std::fs::write(&der, [0x30, 0x82, 0x01]).unwrap();
        let config = TlsConfig {
            ca_file: Some(der.clone()),
            ..TlsConfig::default()
        };
        let error = config.read("sinks.x.tls").err().unwrap().to_string();
        assert!(
            error.contains("sinks.x.tls.ca_file") && error.contains("not a PEM"),
            "{error}"
        );

        let config = TlsConfig {
            ca_file: Some(dir.path().join("absent.pem")),
            ..TlsConfig::default()
        };
        let error = config.read("sinks.x.tls").err().unwrap().to_string();
        assert!(error.contains("absent.pem"), "{error}");
    }

    #[test]
    fn a_certificate_needs_its_key() {
        let config = TlsConfig {
            cert_file: Some("/c.pem".into()),
            ..TlsConfig::default()
        };
        let error = config.read("sinks.x.tls").err().unwrap().to_string();
        assert!(error.contains("go together"), "{error}");
    }

    #[test]
    fn insecure_is_refused_over_grpc() {
        let files = TlsConfig {
            insecure_skip_verify: true,
            ..TlsConfig::default()
        }
        .read("sinks.otlp.tls")
        .unwrap();
        assert!(files.tonic("sinks.otlp.tls").is_err());
        assert!(files
            .reqwest(reqwest::Client::builder(), "sinks.otlp.tls")
            .is_ok());
    }
}
