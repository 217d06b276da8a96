//! The container runtime's id of a container.

/// A full container id: 64 lowercase hex digits, as Docker, containerd and
/// CRI-O all write it in file and directory names. Requiring the full length
/// is what tells `<container>-<id>.log` from a container name with a dash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ContainerId(String);

impl ContainerId {
    const LEN: usize = 64;

    pub(super) fn parse(s: &str) -> Option<Self> {
        let is_id = s.len() == Self::LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        is_id.then(|| ContainerId(s.to_owned()))
    }

    pub(super) fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_full_lowercase_hex_ids() {
        let id = "4f2a9c81d3b7e6a05c1f8e2d9b4a7c3e6f0d1a2b3c4d5e6f7a8b9c0d1e2f3a4b";
        assert_eq!(
            ContainerId::parse(id)
                .map(ContainerId::into_string)
                .as_deref(),
            Some(id)
        );
        assert!(
            ContainerId::parse(&id[..12]).is_none(),
            "short ids are ambiguous"
        );
        assert!(ContainerId::parse(&id.to_uppercase()).is_none());
        assert!(ContainerId::parse(&format!("{}g", &id[..63])).is_none());
        assert!(ContainerId::parse("").is_none());
    }
}
