//! Field manager names: the default taken from the User-Agent, and the request-option checks.

use std::fmt;

use crate::gofmt;

/// Longest field manager name, in bytes (`FieldManagerMaxLength`).
pub const FIELD_MANAGER_MAX_LENGTH: usize = 128;

/// The manager name upstream derives from a User-Agent when the request names none: the
/// text before the first `/`, printable characters only, cut to 128 bytes
/// (`kubectl/v1.33.0 (linux/amd64) kubernetes/abc` gives `kubectl`).
#[must_use]
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or_default();
    let mut out = String::new();
    for c in prefix.chars().filter(|c| gofmt::is_go_printable(*c)) {
        if out.len() + c.len_utf8() > FIELD_MANAGER_MAX_LENGTH {
            break;
        }
        out.push(c);
    }
    out
}

/// The request's `fieldManager` if it has one, else the User-Agent's prefix.
#[must_use]
pub fn manager_or_user_agent(field_manager: &str, user_agent: &str) -> String {
    if field_manager.is_empty() { manager_from_user_agent(user_agent) } else { field_manager.to_owned() }
}

/// One problem with a `fieldManager` option, as a status cause.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldManagerCause {
    /// The cause type: `FieldValueRequired`, `FieldValueTooLong` or `FieldValueInvalid`.
    pub reason: &'static str,
    /// The cause message, e.g. `Required value: is required for apply patch`.
    pub message: String,
}

/// A rejected `fieldManager` option. Upstream answers 422 with
/// [`InvalidFieldManager::status_message`] and one cause per problem, field `fieldManager`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct InvalidFieldManager {
    /// The problems found, in upstream's order.
    pub causes: Vec<FieldManagerCause>,
}

impl fmt::Display for InvalidFieldManager {
    /// The aggregate text: one `fieldManager: <message>`, or several in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut texts: Vec<String> = Vec::new();
        for cause in &self.causes {
            let text = format!("fieldManager: {}", cause.message);
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
        match texts.as_slice() {
            [one] => f.write_str(one),
            many => write!(f, "[{}]", many.join(", ")),
        }
    }
}

impl InvalidFieldManager {
    /// The status message for a request whose options kind is `options_kind`
    /// (`PatchOptions`, `CreateOptions`, `UpdateOptions`):
    /// `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: …`.
    #[must_use]
    pub fn status_message(&self, options_kind: &str) -> String {
        format!("{options_kind}.meta.k8s.io \"\" is invalid: {self}")
    }
}

/// Checks a request's `fieldManager`: required for apply patches, at most 128 bytes,
/// printable characters only (upstream's `ValidatePatchOptions` and `ValidateFieldManager`).
///
/// # Errors
///
/// [`InvalidFieldManager`] with every problem found.
pub fn validate_field_manager(field_manager: &str, is_apply: bool) -> Result<(), InvalidFieldManager> {
    let mut causes = Vec::new();
    if is_apply && field_manager.is_empty() {
        causes.push(FieldManagerCause {
            reason: "FieldValueRequired",
            message: "Required value: is required for apply patch".to_owned(),
        });
    }
    if field_manager.len() > FIELD_MANAGER_MAX_LENGTH {
        causes.push(FieldManagerCause {
            reason: "FieldValueTooLong",
            message: format!("Too long: may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes"),
        });
    }
    for (position, c) in field_manager.char_indices() {
        if !gofmt::is_go_printable(c) {
            causes.push(FieldManagerCause {
                reason: "FieldValueInvalid",
                message: format!(
                    "Invalid value: {}: invalid character U+{:04X} (at position {position})",
                    gofmt::quote(field_manager),
                    c as u32
                ),
            });
        }
    }
    if causes.is_empty() { Ok(()) } else { Err(InvalidFieldManager { causes }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_manager_from_user_agent() {
        assert_eq!(manager_from_user_agent("kubectl/v1.33.0 (linux/amd64) kubernetes/abc"), "kubectl");
        assert_eq!(manager_from_user_agent("kube-controller-manager/v1.33.0 (linux/amd64)"), "kube-controller-manager");
        assert_eq!(manager_from_user_agent("Go-http-client/1.1"), "Go-http-client");
        assert_eq!(manager_from_user_agent("curl"), "curl");
        assert_eq!(manager_from_user_agent(""), "");
        assert_eq!(manager_from_user_agent("a\u{1}b\tc/x"), "abc");
        assert_eq!(manager_from_user_agent(&"x".repeat(200)).len(), 128);
        // A multi-byte character that would cross the limit is left out whole.
        let long = format!("{}é", "x".repeat(127));
        assert_eq!(manager_from_user_agent(&long), "x".repeat(127));
        assert_eq!(manager_or_user_agent("", "helm/3"), "helm");
        assert_eq!(manager_or_user_agent("mine", "helm/3"), "mine");
    }

    #[test]
    fn validates_like_upstream() {
        assert!(validate_field_manager("kubectl", true).is_ok());
        assert!(validate_field_manager("", false).is_ok());
        let err = validate_field_manager("", true).unwrap_err();
        assert_eq!(
            err.status_message("PatchOptions"),
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
        );
        let err = validate_field_manager(&"x".repeat(129), false).unwrap_err();
        assert_eq!(err.to_string(), "fieldManager: Too long: may not be more than 128 bytes");
        let err = validate_field_manager("a\u{1}", false).unwrap_err();
        assert_eq!(err.causes[0].reason, "FieldValueInvalid");
        assert_eq!(
            err.to_string(),
            r#"fieldManager: Invalid value: "a\x01": invalid character U+0001 (at position 1)"#
        );
        let err = validate_field_manager(&format!("{}\u{1}", "x".repeat(128)), true).unwrap_err();
        assert_eq!(err.causes.len(), 2);
        assert!(err.to_string().starts_with("[fieldManager: Too long"));
    }
}
