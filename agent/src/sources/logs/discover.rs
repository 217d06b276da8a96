//! Which files the globs name right now.

use std::collections::HashSet;
use std::fs::Metadata;
use std::path::PathBuf;

use glob::Pattern;

use super::identity::FileId;

/// A regular file matched by the include globs and by no exclude glob.
pub struct Candidate {
    pub path: PathBuf,
    pub metadata: Metadata,
    pub id: FileId,
}

/// Include and exclude patterns, compiled once.
pub struct Globs {
    include: Vec<String>,
    exclude: Vec<Pattern>,
}

impl Globs {
    pub fn new(include: Vec<String>, exclude: Vec<Pattern>) -> Self {
        Globs { include, exclude }
    }

    /// Expands the globs. A file reached by two paths (a symlink in
    /// `/var/log/containers` and its target, say) is listed once, under the first.
    pub fn expand(&self) -> Vec<Candidate> {
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        for pattern in &self.include {
            let Ok(paths) = glob::glob(pattern) else {
                // Patterns are validated with the config; nothing to add here.
                continue;
            };
            for path in paths.flatten() {
                if self.exclude.iter().any(|p| p.matches_path(&path)) {
                    continue;
                }
                // Follows symlinks: the file is what is read.
                let Ok(metadata) = std::fs::metadata(&path) else {
                    continue;
                };
                if !metadata.is_file() {
                    continue;
                }
                let id = FileId::of(&metadata);
                if seen.insert(id) {
                    found.push(Candidate { path, metadata, id });
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_includes_minus_excludes_once_per_file() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.log", "b.log", "skip.log", "c.txt"] {
            std::fs::write(dir.path().join(name), "x\n").unwrap();
        }
        std::os::unix::fs::symlink(dir.path().join("a.log"), dir.path().join("link.log")).unwrap();
        std::fs::create_dir(dir.path().join("d.log")).unwrap();
        let root = dir.path().display();
        let globs = Globs::new(
            vec![format!("{root}/*.log"), format!("{root}/a.log")],
            vec![Pattern::new(&format!("{root}/skip.log")).unwrap()],
        );
        let mut names: Vec<String> = globs
            .expand()
            .into_iter()
            .map(|c| c.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.log", "b.log"]);
    }
}
