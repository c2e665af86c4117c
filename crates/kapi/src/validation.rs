//! Name and label syntax checks (RFC 1123 labels and subdomains, qualified names, label
//! values), with the limits and messages of upstream `k8s.io/apimachinery` validation.

use thiserror::Error;

/// Maximum length of an RFC 1123 label (and of a label value or a qualified name's name part).
pub const DNS1123_LABEL_MAX_LEN: usize = 63;
/// Maximum length of an RFC 1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LEN: usize = 253;

/// Why a name, key or value is not valid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The string was empty where a value is required.
    #[error("{what} must be non-empty")]
    Empty {
        /// Which part was empty ("name part", "prefix part", …).
        what: &'static str,
    },
    /// The string was longer than allowed.
    #[error("{what} must be no more than {max} characters")]
    TooLong {
        /// Which part was too long.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// Not a lowercase RFC 1123 label.
    #[error(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
         and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', \
         regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    )]
    Dns1123Label,
    /// Not a lowercase RFC 1123 subdomain.
    #[error(
        "{prefix}a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
         characters, '-' or '.', and must start and end with an alphanumeric character \
         (e.g. 'example.com', regex used for validation is \
         '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )]
    Dns1123Subdomain {
        /// "prefix part " when the subdomain is a qualified name's prefix, else empty.
        prefix: &'static str,
    },
    /// The name part of a qualified name (or a label value) has bad characters.
    #[error(
        "{what} must consist of alphanumeric characters, '-', '_' or '.', and must start and \
         end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex \
         used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )]
    QualifiedChars {
        /// "name part" or "a valid label".
        what: &'static str,
    },
    /// More than one '/' in a qualified name.
    #[error(
        "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must \
         start and end with an alphanumeric character with an optional DNS subdomain prefix \
         and '/' (e.g. 'example.com/MyName')"
    )]
    QualifiedNameShape,
    /// A path segment name that cannot be stored or addressed ("." / ".." / contains '/' or '%').
    #[error("{0}")]
    PathSegment(&'static str),
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Checks an RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters
/// (namespace names, service names, …).
pub fn dns1123_label(s: &str) -> Result<(), ValidationError> {
    if s.len() > DNS1123_LABEL_MAX_LEN {
        return Err(ValidationError::TooLong { what: "a lowercase RFC 1123 label", max: 63 });
    }
    if label_shape_ok(s.as_bytes()) { Ok(()) } else { Err(ValidationError::Dns1123Label) }
}

fn label_shape_ok(b: &[u8]) -> bool {
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            is_lower_alnum(f) && is_lower_alnum(l) && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// Checks an RFC 1123 subdomain: dot-separated RFC 1123 labels, at most 253 characters
/// (most object names, label-key prefixes).
pub fn dns1123_subdomain(s: &str) -> Result<(), ValidationError> {
    subdomain(s, "")
}

fn subdomain(s: &str, prefix: &'static str) -> Result<(), ValidationError> {
    if s.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        let what = if prefix.is_empty() { "a lowercase RFC 1123 subdomain" } else { "prefix part" };
        return Err(ValidationError::TooLong { what, max: DNS1123_SUBDOMAIN_MAX_LEN });
    }
    if s.split('.').all(|part| label_shape_ok(part.as_bytes())) {
        Ok(())
    } else {
        Err(ValidationError::Dns1123Subdomain { prefix })
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` without the length check.
fn qualified_chars_ok(b: &[u8]) -> bool {
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Checks a qualified name such as a label or annotation key: an optional RFC 1123
/// subdomain prefix and `/`, then a name of at most 63 characters matching
/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
pub fn qualified_name(s: &str) -> Result<(), ValidationError> {
    let mut parts = s.split('/');
    let (prefix, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => (None, name),
        (Some(prefix), Some(name), None) => (Some(prefix), name),
        _ => return Err(ValidationError::QualifiedNameShape),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err(ValidationError::Empty { what: "prefix part" });
        }
        subdomain(prefix, "prefix part ")?;
    }
    if name.is_empty() {
        return Err(ValidationError::Empty { what: "name part" });
    }
    if name.len() > DNS1123_LABEL_MAX_LEN {
        return Err(ValidationError::TooLong { what: "name part", max: DNS1123_LABEL_MAX_LEN });
    }
    if !qualified_chars_ok(name.as_bytes()) {
        return Err(ValidationError::QualifiedChars { what: "name part" });
    }
    Ok(())
}

/// Checks a label value: empty, or at most 63 characters matching
/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
pub fn label_value(s: &str) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Ok(());
    }
    if s.len() > DNS1123_LABEL_MAX_LEN {
        return Err(ValidationError::TooLong { what: "a valid label", max: DNS1123_LABEL_MAX_LEN });
    }
    if !qualified_chars_ok(s.as_bytes()) {
        return Err(ValidationError::QualifiedChars { what: "a valid label" });
    }
    Ok(())
}

/// Checks that a name can be used as one segment of a URL path or storage key
/// (upstream `IsValidPathSegmentName`): not `.` or `..`, no `/` and no `%`.
pub fn path_segment_name(s: &str) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::Empty { what: "name" });
    }
    if s == "." || s == ".." {
        return Err(ValidationError::PathSegment("may not be '.' or '..'"));
    }
    if s.contains('/') {
        return Err(ValidationError::PathSegment("may not contain '/'"));
    }
    if s.contains('%') {
        return Err(ValidationError::PathSegment("may not contain '%'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "0", "a-b", "a1", "abc-123", &"a".repeat(63)] {
            assert_eq!(dns1123_label(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(dns1123_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subdomains() {
        for ok in ["a", "a.b", "example.com", "a-1.b-2.c", &format!("{}.b", "a".repeat(63))] {
            assert_eq!(dns1123_subdomain(ok), Ok(()), "{ok}");
        }
        for bad in ["", ".a", "a.", "a..b", "A.b", "a_b.c", &"a.".repeat(127)] {
            assert!(dns1123_subdomain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn qualified_names() {
        for ok in ["a", "A", "a.b_c-d", "example.com/Name", "k8s.io/app", "1", "a/b"] {
            assert_eq!(qualified_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(qualified_name("/a"), Err(ValidationError::Empty { what: "prefix part" }));
        assert_eq!(qualified_name("a/"), Err(ValidationError::Empty { what: "name part" }));
        assert_eq!(qualified_name("a/b/c"), Err(ValidationError::QualifiedNameShape));
        assert!(matches!(qualified_name("Example.com/a"), Err(ValidationError::Dns1123Subdomain { .. })));
        assert!(matches!(qualified_name("_a"), Err(ValidationError::QualifiedChars { .. })));
        assert!(matches!(qualified_name(&"a".repeat(64)), Err(ValidationError::TooLong { .. })));
        assert_eq!(qualified_name(&"a".repeat(63)), Ok(()));
    }

    #[test]
    fn label_values() {
        for ok in ["", "a", "A-b_c.d", &"z".repeat(63)] {
            assert_eq!(label_value(ok), Ok(()), "{ok}");
        }
        for bad in ["-", "a-", ".a", "a b", "a/b", &"z".repeat(64)] {
            assert!(label_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_segments() {
        assert!(path_segment_name("web-0").is_ok());
        for bad in ["", ".", "..", "a/b", "a%2f"] {
            assert!(path_segment_name(bad).is_err(), "{bad}");
        }
        assert!(path_segment_name("..a").is_ok());
    }
}
