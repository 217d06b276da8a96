//! Who the agent says it is to the receiver: basic auth or a bearer token,
//! each read from a file.
//!
//! Secrets never sit in the config itself (it lives in a ConfigMap and in
//! shell history); they come from mounted Secret files. A file is read again
//! for every request because Kubernetes rotates projected service-account
//! tokens and updated Secrets in place: a token that changed is used from
//! the next request on, with no restart. Errors name the file, never what
//! it holds.

use std::path::PathBuf;

use serde::Deserialize;

/// `basic_auth:` under `sinks.remote_write`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    /// File holding the password; a trailing newline is ignored.
    pub password_file: PathBuf,
}

/// How requests are authenticated.
#[derive(Clone, Debug)]
pub enum Credentials {
    None,
    Basic { username: String, password: PathBuf },
    Bearer { token: PathBuf },
}

impl Credentials {
    /// From the two settings, which exclude each other (both set would
    /// leave it unclear which one the receiver checks).
    pub fn new(
        basic: Option<&BasicAuth>,
        bearer_token_file: Option<&PathBuf>,
    ) -> anyhow::Result<Self> {
        match (basic, bearer_token_file) {
            (Some(_), Some(_)) => anyhow::bail!(
                "sinks.remote_write: basic_auth and bearer_token_file exclude each other"
            ),
            (Some(basic), None) => {
                anyhow::ensure!(
                    !basic.username.is_empty() && !basic.username.contains(':'),
                    "sinks.remote_write.basic_auth.username must be non-empty and hold no ':'"
                );
                Ok(Credentials::Basic {
                    username: basic.username.clone(),
                    password: basic.password_file.clone(),
                })
            }
            (None, Some(token)) => Ok(Credentials::Bearer {
                token: token.clone(),
            }),
            (None, None) => Ok(Credentials::None),
        }
    }

    /// `request` with the `Authorization` header, the secret read now.
    pub fn apply(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        Ok(match self {
            Credentials::None => request,
            Credentials::Basic { username, password } => request.basic_auth(
                username,
                Some(secret(password, "basic_auth.password_file")?),
            ),
            Credentials::Bearer { token } => {
                request.bearer_auth(secret(token, "bearer_token_file")?)
            }
        })
    }
}

/// The file's content without the trailing newline editors and
/// `kubectl create secret --from-file` leave.
fn secret(path: &PathBuf, setting: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "sinks.remote_write.{setting} {}: {}",
            path.display(),
            // The kind only: an InvalidData error is about content.
            e.kind()
        )
    })?;
    let value = text.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(
        !value.is_empty(),
        "sinks.remote_write.{setting} {}: the file is empty",
        path.display()
    );
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorization(credentials: &Credentials) -> Option<String> {
        let request = credentials
            .apply(reqwest::Client::new().post("http://127.0.0.1/"))
            .unwrap()
            .build()
            .unwrap();
        request
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn secrets_come_from_files_read_per_request() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "abc\n").unwrap();
        let bearer = Credentials::new(None, Some(&token)).unwrap();
        assert_eq!(authorization(&bearer).as_deref(), Some("Bearer abc"));
        // Rotated in place: the next request carries the new token.
        std::fs::write(&token, "def").unwrap();
        assert_eq!(authorization(&bearer).as_deref(), Some("Bearer def"));

        let password = dir.path().join("password");
        std::fs::write(&password, "open sesame\n").unwrap();
        let basic = BasicAuth {
            username: "wardwatch".into(),
            password_file: password,
        };
        let basic = Credentials::new(Some(&basic), None).unwrap();
        // base64("wardwatch:open sesame")
        assert_eq!(
            authorization(&basic).as_deref(),
            Some("Basic d2FyZHdhdGNoOm9wZW4gc2VzYW1l")
        );
        assert_eq!(authorization(&Credentials::None), None);
    }

    #[test]
    fn errors_name_the_file_not_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let bearer = Credentials::new(None, Some(&empty)).unwrap();
        let error = bearer
            .apply(reqwest::Client::new().post("http://127.0.0.1/"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("bearer_token_file") && error.contains("empty"),
            "{error}"
        );

        let binary = dir.path().join("binary");
        std::fs::write(&binary, b"s3cr3t\xff").unwrap();
        let bearer = Credentials::new(None, Some(&binary)).unwrap();
        let error = bearer
            .apply(reqwest::Client::new().post("http://127.0.0.1/"))
            .err()
            .unwrap()
            .to_string();
        assert!(!error.contains("s3cr3t"), "{error}");

        let basic = BasicAuth {
            username: "a".into(),
            password_file: empty.clone(),
        };
        assert!(Credentials::new(Some(&basic), Some(&empty)).is_err());
    }
}
