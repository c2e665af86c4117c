//! Compiles Go (RE2) `pattern`s with the `regex` crate.
//!
//! Both engines implement RE2 syntax, but they differ in a few places that matter for CRD
//! patterns, which this module rewrites before compiling:
//!
//! - Go's `\d`, `\w`, `\s` and `\b` are ASCII-only; the crate's are Unicode-aware.
//! - Go treats a `{` that does not start a valid repetition as a literal; the crate rejects it.
//! - Inside a character class Go treats `[`, `&&`, `--` and `~~` literally; the crate nests
//!   classes and applies set operations.
//! - Go rejects repetition counts above 1000.
//! - `\<` and `\>` are literals in Go and word boundaries in the crate.
//! - Go accepts octal escapes (`\012`) and `\Q…\E` quoting.
//!
//! Error texts are the crate's, prefixed with Go's `error parsing regexp: `; Go's wording differs.

use regex::Regex;

const ASCII_DIGIT: &str = "[0-9]";
const ASCII_NOT_DIGIT: &str = "[^0-9]";
const ASCII_WORD: &str = "[0-9A-Za-z_]";
const ASCII_NOT_WORD: &str = "[^0-9A-Za-z_]";
const GO_SPACE: &str = r"[\t\n\x0C\r ]";
const GO_NOT_SPACE: &str = r"[^\t\n\x0C\r ]";
const MAX_REPEAT: u32 = 1000;

/// Compiles a Go regular expression; the error is a Go-style message.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    Regex::new(&translated).map_err(|e| format!("error parsing regexp: {}", summarize(&e.to_string())))
}

/// The last line of the crate's multi-line error, without its `error: ` prefix.
fn summarize(err: &str) -> String {
    let line = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(err);
    line.trim().trim_start_matches("error: ").to_owned()
}

/// Parses `{n}`, `{n,}` or `{n,m}` at the start of `rest`; returns its length and counts.
fn repetition(rest: &[char]) -> Option<(usize, u32, Option<u32>)> {
    let end = rest.iter().position(|&c| c == '}')?;
    let body: String = rest[1..end].iter().collect();
    let (min, max) = match body.split_once(',') {
        None => (body.as_str(), Some(body.as_str())),
        Some((a, "")) => (a, None),
        Some((a, b)) => (a, Some(b)),
    };
    let num =
        |s: &str| if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) { s.parse::<u32>().ok() } else { None };
    let min = num(min)?;
    let max = match max {
        Some(m) => Some(num(m)?),
        None => None,
    };
    Some((end + 1, min, max))
}

fn escape_literal(c: char, out: &mut String) {
    out.push_str(&regex::escape(c.encode_utf8(&mut [0u8; 4])));
}

/// Rewrites Go syntax into equivalent syntax for the `regex` crate.
fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    // Position of the first member inside the current class (`]` there is a literal).
    let mut class_start: Option<usize> = None;
    while i < chars.len() {
        let c = chars[i];
        let in_class = class_start.is_some();
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err("error parsing regexp: trailing backslash at end of expression: ``".to_owned());
                };
                i += 2;
                match n {
                    'd' => out.push_str(ASCII_DIGIT),
                    'D' => out.push_str(ASCII_NOT_DIGIT),
                    'w' => out.push_str(ASCII_WORD),
                    'W' => out.push_str(ASCII_NOT_WORD),
                    's' => out.push_str(GO_SPACE),
                    'S' => out.push_str(GO_NOT_SPACE),
                    'b' if !in_class => out.push_str(r"(?-u:\b)"),
                    '<' | '>' => escape_literal(n, &mut out),
                    'Q' => {
                        // Everything up to `\E` (or the end) is literal.
                        while i < chars.len() {
                            if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
                                i += 2;
                                break;
                            }
                            escape_literal(chars[i], &mut out);
                            i += 1;
                        }
                    }
                    '0'..='7' => {
                        let mut digits = n.to_string();
                        while digits.len() < 3 && chars.get(i).is_some_and(|d| ('0'..='7').contains(d)) {
                            digits.push(chars[i]);
                            i += 1;
                        }
                        if n != '0' && digits.len() == 1 {
                            return Err(format!("error parsing regexp: invalid escape sequence: `\\{n}`"));
                        }
                        let code = u32::from_str_radix(&digits, 8).unwrap_or(0);
                        out.push_str(&format!("\\x{{{code:x}}}"));
                    }
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
                continue;
            }
            '[' if in_class => {
                // A POSIX class such as `[:alpha:]` stays; any other `[` is a literal in Go.
                if chars.get(i + 1) == Some(&':') {
                    if let Some(len) = chars[i + 2..].windows(2).position(|w| w == [':', ']']) {
                        out.extend(&chars[i..i + 2 + len + 2]);
                        i += len + 4;
                        continue;
                    }
                }
                out.push_str("\\[");
            }
            '[' => {
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                class_start = Some(i);
                continue;
            }
            ']' if in_class && class_start != Some(i) => {
                out.push(']');
                class_start = None;
            }
            ']' if in_class => out.push_str("\\]"),
            '&' | '~' if in_class => escape_literal(c, &mut out),
            '-' if in_class && chars.get(i + 1) == Some(&'-') => out.push_str("\\-"),
            '{' if !in_class => match repetition(&chars[i..]) {
                Some((len, min, max)) => {
                    if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
                        let text: String = chars[i..i + len].iter().collect();
                        return Err(format!("error parsing regexp: invalid repeat count: `{text}`"));
                    }
                    out.extend(&chars[i..i + len]);
                    i += len;
                    continue;
                }
                None => out.push_str("\\{"),
            },
            '}' if !in_class => out.push_str("\\}"),
            _ => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_match(p: &str, s: &str) -> bool {
        compile(p).map(|r| r.is_match(s)).unwrap_or(false)
    }

    #[test]
    fn classes_are_ascii_like_go() {
        assert!(is_match(r"^\d+$", "123"));
        assert!(!is_match(r"^\d+$", "١٢٣"));
        assert!(is_match(r"^[\d.]+$", "1.2"));
        assert!(!is_match(r"^\w+$", "é"));
        assert!(is_match(r"^\s$", " "));
        assert!(!is_match(r"^\s$", "\u{b}"));
        assert!(is_match(r"^[^\S]$", "\t"));
    }

    #[test]
    fn literal_braces_and_brackets() {
        assert!(is_match(r"^{foo}$", "{foo}"));
        assert!(is_match(r"^a{2}$", "aa"));
        assert!(is_match(r"^a{2,}$", "aaa"));
        assert!(is_match(r"^[[a]+$", "[a["));
        assert!(is_match(r"^[a&&b]+$", "a&&b"));
        assert!(is_match(r"^[[:alpha:]]+$", "abc"));
        assert!(is_match(r"^[]a]+$", "]a"));
        assert!(is_match(r"^\<x\>$", "<x>"));
        assert!(is_match(r"^\Qa.b\E$", "a.b"));
        assert!(!is_match(r"^\Qa.b\E$", "axb"));
        assert!(is_match(r"^\012$", "\n"));
    }

    #[test]
    fn errors_follow_go_limits() {
        assert!(compile("a{1001}").is_err());
        assert!(compile("+").unwrap_err().starts_with("error parsing regexp: "));
        assert!(compile("(").is_err());
        assert!(compile("\\").is_err());
        assert!(compile(r"\1").is_err());
    }
}
