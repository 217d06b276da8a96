//! Reloading the redaction rules while the agent runs.
//!
//! The pipeline reads the rules through a [`RulesHandle`]; a reload builds a
//! whole new [`Redactor`] and swaps it in with one atomic store, so a batch is
//! redacted entirely by the old rules or entirely by the new ones. A rule file
//! that does not load (bad YAML, a failing example) leaves the rules in force
//! and is reported, once per change of the files.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use super::error::ConfigErrors;
use super::validate::rule_errors;
use crate::internal_events::{RulesReloadFailed, RulesReloaded};
use crate::redact::Redactor;

/// The rules in force, shared by the redaction stage and the reloader.
pub type RulesHandle = Arc<ArcSwap<Redactor>>;

/// What the rule files looked like when last loaded: their paths, sizes and
/// modification times. A change in any is a reason to load them again.
#[derive(Debug, PartialEq, Eq)]
struct Stamp(Vec<(PathBuf, u64, Option<SystemTime>)>);

impl Stamp {
    fn of(paths: &[PathBuf]) -> Stamp {
        let mut files = Vec::new();
        for path in paths {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    for entry in entries.flatten() {
                        files.push(entry.path());
                    }
                }
                Err(_) => files.push(path.clone()),
            }
        }
        files.sort();
        Stamp(
            files
                .into_iter()
                .map(|file| {
                    let meta = std::fs::metadata(&file).ok();
                    let len = meta.as_ref().map_or(0, |m| m.len());
                    let modified = meta.and_then(|m| m.modified().ok());
                    (file, len, modified)
                })
                .collect(),
        )
    }
}

/// Watches the configured rule files and swaps in new rules when they change.
pub struct RuleReloader {
    paths: Vec<PathBuf>,
    rules: RulesHandle,
    seen: Stamp,
}

impl RuleReloader {
    /// A reloader for `paths`, whose current contents `rules` already holds.
    pub fn new(paths: Vec<PathBuf>, rules: RulesHandle) -> Self {
        let seen = Stamp::of(&paths);
        RuleReloader { paths, rules, seen }
    }

    /// Loads the rule files again if they changed since the last look (or
    /// always, when `force`: SIGHUP). Returns whether new rules are in force.
    pub fn reload(&mut self, force: bool) -> Result<bool, ConfigErrors> {
        let stamp = Stamp::of(&self.paths);
        if !force && stamp == self.seen {
            return Ok(false);
        }
        // Remember the attempt even when it fails: a broken file is reported
        // once, not on every tick until it is fixed.
        self.seen = stamp;
        match Redactor::load(&self.paths) {
            Ok(redactor) => {
                let rules = redactor.rule_ids().len();
                self.rules.store(Arc::new(redactor));
                RulesReloaded { rules }.emit();
                Ok(true)
            }
            Err(errors) => {
                let errors = rule_errors(errors);
                RulesReloadFailed { errors: &errors }.emit();
                Err(errors)
            }
        }
    }

    /// Checks every `interval` (never, if zero) and on every SIGHUP, until the
    /// runtime stops.
    pub async fn run(mut self, interval: Duration) {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => Some(hangup),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP; rule files reload on the interval only");
                None
            }
        };
        let mut tick = (!interval.is_zero()).then(|| tokio::time::interval(interval));
        loop {
            let force = tokio::select! {
                Some(_) = async { hangup.as_mut()?.recv().await } => true,
                _ = async {
                    match tick.as_mut() {
                        Some(tick) => { tick.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => false,
            };
            let mut reloader = self;
            // Loading compiles automata: off the async workers.
            let joined = tokio::task::spawn_blocking(move || {
                let _ = reloader.reload(force);
                reloader
            })
            .await;
            match joined {
                Ok(reloader) => self = reloader,
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "rules:\n  - id: field-ssn\n    description: SSNs\n    kind: field\n    paths: ['*.ssn']\n    examples:\n      match: [ssn]\n";

    #[test]
    fn a_changed_file_is_swapped_in_and_a_broken_one_keeps_the_old_rules() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.yaml");
        std::fs::write(&file, RULE).unwrap();
        let paths = vec![dir.path().to_path_buf()];
        let rules: RulesHandle = Arc::new(ArcSwap::from_pointee(Redactor::load(&paths).unwrap()));
        let mut reloader = RuleReloader::new(paths, Arc::clone(&rules));
        assert!(!reloader.reload(false).unwrap(), "nothing changed");

        let two = RULE.to_owned()
            + "  - id: field-mrn\n    description: MRNs\n    kind: field\n    paths: ['*.mrn']\n    examples:\n      match: [mrn]\n";
        std::fs::write(&file, two).unwrap();
        assert!(reloader.reload(false).unwrap());
        assert_eq!(
            rules.load().rule_ids().collect::<Vec<_>>(),
            ["field-ssn", "field-mrn"]
        );

        std::fs::write(&file, "rules: [ {id: broken").unwrap();
        let errors = reloader.reload(false).unwrap_err();
        assert!(errors.to_string().contains("rules.yaml:1:"), "{errors}");
        assert_eq!(
            rules.load().rule_ids().len(),
            2,
            "the old rules stay in force"
        );
        assert!(
            !reloader.reload(false).unwrap(),
            "a broken state is reported once"
        );
        assert!(reloader.reload(true).is_err(), "SIGHUP tries again");
    }
}
