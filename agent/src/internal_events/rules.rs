//! Events of rule reloading. Rule-file errors quote rule files only (they are
//! operator-written), never record content.

use super::metrics;
use super::metrics::OutcomeLabel;

/// New rule files were loaded and swapped in.
pub struct RulesReloaded {
    pub rules: usize,
}

impl RulesReloaded {
    pub fn emit(self) {
        metrics()
            .rule_reloads
            .get_or_create(&OutcomeLabel { outcome: "ok" })
            .inc();
        tracing::info!(rules = self.rules, "redaction rules reloaded");
    }
}

/// Changed rule files did not load; the rules in force stay.
pub struct RulesReloadFailed<'a> {
    pub errors: &'a dyn std::fmt::Display,
}

impl RulesReloadFailed<'_> {
    pub fn emit(self) {
        metrics()
            .rule_reloads
            .get_or_create(&OutcomeLabel { outcome: "error" })
            .inc();
        tracing::error!(errors = %self.errors, "redaction rules not reloaded; the previous rules stay in force");
    }
}
