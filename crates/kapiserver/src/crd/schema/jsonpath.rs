//! The client-go JSONPath subset that printer columns use (`k8s.io/client-go/util/jsonpath`).
//!
//! Supported inside one action: fields (`.a.b`, `['a']`, `\.` escapes), `*` wildcards,
//! recursive descent (`..a`), array indexes and slices (`[0]`, `[-1]`, `[1:3:2]`, `[*]`),
//! unions (`[0,1]`), filters (`[?(@.type=="Ready")]`, `[?(@.x)]`, with `== != < > <= >=`),
//! and literals. `range`/`end` templates and text outside the action are not supported.

use std::borrow::Cow;

use serde_json::Value;

use crate::gofmt::{self, Num};

/// Why a JSONPath expression does not parse or evaluate (messages are client-go's).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonPathError {
    /// The expression is malformed.
    #[error("{0}")]
    Parse(String),
    /// Evaluation failed (wrong type, index out of bounds, incomparable values, …).
    #[error("{0}")]
    Eval(String),
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Param {
    value: i64,
    known: bool,
    derived: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Field(String),
    Wildcard,
    Recursive,
    Array([Param; 3]),
    Filter { left: Vec<Node>, right: Vec<Node>, op: String },
    Union(Vec<Vec<Node>>),
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Identifier(String),
}

/// A parsed JSONPath expression such as `.status.conditions[?(@.type=="Ready")].status`.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath {
    nodes: Vec<Node>,
    allow_missing_keys: bool,
}

fn perr(msg: impl Into<String>) -> JsonPathError {
    JsonPathError::Parse(msg.into())
}

fn eerr(msg: impl Into<String>) -> JsonPathError {
    JsonPathError::Eval(msg.into())
}

fn is_terminator(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(c, ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'),
    }
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    fn text(&self, from: usize) -> String {
        self.chars[from..self.pos].iter().collect()
    }

    /// `parseInsideAction` until the closing `}`.
    fn action(&mut self) -> Result<Vec<Node>, JsonPathError> {
        let mut nodes = Vec::new();
        loop {
            if self.starts_with("}") {
                self.pos += 1;
                return Ok(nodes);
            }
            if self.starts_with("[?(") {
                nodes.push(self.filter()?);
                continue;
            }
            if self.starts_with("..") {
                if nodes.last() == Some(&Node::Recursive) {
                    return Err(perr("invalid multiple recursive descent"));
                }
                self.pos += 2;
                nodes.push(Node::Recursive);
                if self.peek().is_some_and(is_alphanumeric) {
                    nodes.push(self.field());
                }
                continue;
            }
            let Some(c) = self.peek() else { return Err(perr("unclosed action")) };
            match c {
                '\r' | '\n' => return Err(perr("unclosed action")),
                ' ' | '@' | '$' => self.pos += 1,
                '[' => nodes.extend(self.array()?),
                '"' | '\'' => nodes.push(self.quote(c)?),
                '.' => {
                    self.pos += 1;
                    nodes.push(self.field());
                }
                '+' | '-' => nodes.push(self.number()?),
                c if c.is_ascii_digit() || c.is_numeric() => nodes.push(self.number()?),
                c if is_alphanumeric(c) => nodes.push(self.identifier()),
                c => return Err(perr(format!("unrecognized character in action: U+{:04X} '{c}'", c as u32))),
            }
        }
    }

    fn field(&mut self) -> Node {
        let start = self.pos;
        loop {
            match self.peek() {
                Some('\\') => self.pos = (self.pos + 2).min(self.chars.len()),
                c if is_terminator(c) => break,
                _ => self.pos += 1,
            }
        }
        let value = self.text(start);
        if value == "*" { Node::Wildcard } else { Node::Field(value.replace('\\', "")) }
    }

    fn identifier(&mut self) -> Node {
        let start = self.pos;
        while !is_terminator(self.peek()) {
            self.pos += 1;
        }
        match self.text(start).as_str() {
            "true" => Node::Bool(true),
            "false" => Node::Bool(false),
            other => Node::Identifier(other.to_owned()),
        }
    }

    fn number(&mut self) -> Result<Node, JsonPathError> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c == '.' || c.is_ascii_digit()) {
            self.pos += 1;
        }
        let value = self.text(start);
        if let Ok(i) = value.parse::<i64>() {
            return Ok(Node::Int(i));
        }
        value.parse::<f64>().map(Node::Float).map_err(|_| perr(format!("cannot parse number {value}")))
    }

    fn quote(&mut self, end: char) -> Result<Node, JsonPathError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None | Some('\n') => return Err(perr("unterminated quoted string")),
                Some(c) if c == end && self.chars[self.pos - 1] != '\\' => {
                    self.pos += 1;
                    break;
                }
                _ => self.pos += 1,
            }
        }
        let raw = self.text(start);
        unquote(&raw).map(Node::Text).map_err(|e| perr(format!("unquote string {raw} error {e}")))
    }

    fn array(&mut self) -> Result<Vec<Node>, JsonPathError> {
        let start = self.pos;
        loop {
            match self.peek() {
                None | Some('\n') => return Err(perr("unterminated array")),
                Some(']') => {
                    self.pos += 1;
                    break;
                }
                _ => self.pos += 1,
            }
        }
        let text: String = self.chars[start + 1..self.pos - 1].iter().collect();
        let text = if text == "*" { ":".to_owned() } else { text };
        let parts: Vec<&str> = text.split(',').collect();
        if parts.len() > 1 {
            let lists =
                parts.iter().map(|p| parse_action(&format!("[{}]", p.trim_matches(' ')))).collect::<Result<_, _>>()?;
            return Ok(vec![Node::Union(lists)]);
        }
        if text.len() >= 2 && text.starts_with('\'') && text.ends_with('\'') && !text[1..text.len() - 1].contains('\'')
        {
            return parse_action(&format!(".{}", &text[1..text.len() - 1]));
        }
        Ok(vec![Node::Array(slice_params(&text)?)])
    }

    fn filter(&mut self) -> Result<Node, JsonPathError> {
        self.pos += 3;
        let start = self.pos;
        let (mut begin, mut end, mut pair) = (false, false, '"');
        loop {
            let Some(c) = self.peek() else { return Err(perr("unterminated filter")) };
            self.pos += 1;
            match c {
                '\n' => return Err(perr("unterminated filter")),
                '"' | '\'' => {
                    if !begin {
                        begin = true;
                        pair = c;
                    } else if c == pair && self.chars.get(self.pos.wrapping_sub(2)) != Some(&'\\') {
                        end = true;
                    }
                }
                ')' if begin == end => break,
                _ => {}
            }
        }
        if self.peek() != Some(']') {
            return Err(perr("unclosed array expect ]"));
        }
        self.pos += 1;
        let inner: String = self.chars[start..self.pos - 2].iter().collect();
        match split_comparison(&inner) {
            None => Ok(Node::Filter { left: parse_action(&inner)?, right: Vec::new(), op: "exists".to_owned() }),
            Some((l, op, r)) => Ok(Node::Filter { left: parse_action(l)?, right: parse_action(r)?, op: op.to_owned() }),
        }
    }
}

/// `^([^!<>=]+)([!<>=]+)(.+?)$`.
fn split_comparison(s: &str) -> Option<(&str, &str, &str)> {
    let is_op = |c: char| matches!(c, '!' | '<' | '>' | '=');
    let op_start = s.find(is_op)?;
    if op_start == 0 {
        return None;
    }
    let op_len = s[op_start..].find(|c| !is_op(c))?;
    let (left, rest) = s.split_at(op_start);
    let (op, right) = rest.split_at(op_len);
    if right.is_empty() || right.contains('\n') { None } else { Some((left, op, right)) }
}

/// `^(-?[\d]*)(:-?[\d]*)?(:-?[\d]*)?$` and client-go's interpretation of the parts.
fn slice_params(text: &str) -> Result<[Param; 3], JsonPathError> {
    let invalid = || perr(format!("invalid array index {text}"));
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 {
        return Err(invalid());
    }
    let well_formed = |p: &str| {
        let digits = p.strip_prefix('-').unwrap_or(p);
        digits.chars().all(|c| c.is_ascii_digit())
    };
    if !parts.iter().all(|p| well_formed(p)) {
        return Err(invalid());
    }
    let mut params = [Param::default(); 3];
    for i in 0..3 {
        match parts.get(i) {
            Some(p) if !p.is_empty() => {
                let value = p.parse::<i64>().map_err(|_| perr(format!("array index {p} is not a number")))?;
                params[i] = Param { value, known: true, derived: false };
            }
            Some(_) if i > 0 => params[i] = Param::default(),
            _ if i == 1 => params[1] = Param { value: params[0].value + 1, known: true, derived: true },
            _ => params[i] = Param::default(),
        }
    }
    Ok(params)
}

/// client-go's `UnquoteExtend`: Go string-literal unquoting for `"…"` and `'…'`.
fn unquote(s: &str) -> Result<String, &'static str> {
    let chars: Vec<char> = s.chars().collect();
    let (Some(&q), Some(&last)) = (chars.first(), chars.last()) else { return Err("invalid syntax") };
    if chars.len() < 2 || q != last || (q != '"' && q != '\'') {
        return Err("invalid syntax");
    }
    let inner = &chars[1..chars.len() - 1];
    let mut out = String::new();
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        i += 1;
        if c == q {
            return Err("invalid syntax");
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = inner.get(i) else { return Err("invalid syntax") };
        i += 1;
        let hex = |n: usize, i: &mut usize| -> Result<char, &'static str> {
            let digits: String = inner.get(*i..*i + n).ok_or("invalid syntax")?.iter().collect();
            *i += n;
            u32::from_str_radix(&digits, 16).ok().and_then(char::from_u32).ok_or("invalid syntax")
        };
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '\'' | '"' if e == q => out.push(e),
            'x' => out.push(hex(2, &mut i)?),
            'u' => out.push(hex(4, &mut i)?),
            'U' => out.push(hex(8, &mut i)?),
            '0'..='7' => {
                let digits: String = inner.get(i - 1..i + 2).ok_or("invalid syntax")?.iter().collect();
                i += 2;
                let v = u32::from_str_radix(&digits, 8).map_err(|_| "invalid syntax")?;
                out.push(char::from_u32(v).filter(|_| v <= 255).ok_or("invalid syntax")?);
            }
            _ => return Err("invalid syntax"),
        }
    }
    Ok(out)
}

/// Parses the body of one `{…}` action.
fn parse_action(text: &str) -> Result<Vec<Node>, JsonPathError> {
    let src = format!("{text}}}");
    let mut p = Parser { chars: src.chars().collect(), pos: 0 };
    p.action()
}

type Items<'a> = Vec<Cow<'a, Value>>;

impl JsonPath {
    /// Parses a printer-column path (upstream parses it as the template `{<path>}`); missing keys
    /// yield no result rather than an error, as for printer columns.
    pub fn parse(path: &str) -> Result<JsonPath, JsonPathError> {
        let body = path.strip_prefix('{').and_then(|p| p.strip_suffix('}')).unwrap_or(path);
        Ok(JsonPath { nodes: parse_action(body)?, allow_missing_keys: true })
    }

    /// Whether a missing key is an error (`false`) or yields nothing (`true`, the default).
    #[must_use]
    pub fn allow_missing_keys(mut self, allow: bool) -> JsonPath {
        self.allow_missing_keys = allow;
        self
    }

    /// Evaluates the path; the values found, in client-go's order (map keys sorted).
    pub fn find<'a>(&self, data: &'a Value) -> Result<Vec<Cow<'a, Value>>, JsonPathError> {
        self.list(vec![Cow::Borrowed(data)], &self.nodes)
    }

    /// The text client-go prints for one found value (`PrintResults`): JSON for objects and
    /// arrays, `<no value>` for null, Go's `%v` otherwise.
    pub fn print(value: &Value) -> String {
        match value {
            Value::Null => "<no value>".to_owned(),
            Value::Object(_) | Value::Array(_) => gofmt::json(value),
            other => gofmt::v(other),
        }
    }

    fn list<'a>(&self, mut cur: Items<'a>, nodes: &[Node]) -> Result<Items<'a>, JsonPathError> {
        for n in nodes {
            cur = self.walk(cur, n)?;
        }
        Ok(cur)
    }

    fn walk<'a>(&self, input: Items<'a>, node: &Node) -> Result<Items<'a>, JsonPathError> {
        match node {
            Node::Field(name) => self.field(input, name),
            Node::Wildcard => Ok(input.iter().flat_map(children).collect()),
            Node::Recursive => Ok(recursive(input)),
            Node::Array(params) => array(input, *params),
            Node::Filter { left, right, op } => self.filter(input, left, right, op),
            Node::Union(lists) => {
                let mut out = Vec::new();
                for l in lists {
                    out.extend(self.list(input.clone(), l)?);
                }
                Ok(out)
            }
            Node::Text(t) => Ok(vec![Cow::Owned(Value::String(t.clone()))]),
            Node::Int(i) => Ok(input.iter().map(|_| Cow::Owned(Value::from(*i))).collect()),
            Node::Float(f) => Ok(input.iter().map(|_| Cow::Owned(Value::from(*f))).collect()),
            Node::Bool(b) => Ok(input.iter().map(|_| Cow::Owned(Value::Bool(*b))).collect()),
            Node::Identifier(name) => Err(eerr(format!("unrecognized identifier {name}"))),
        }
    }

    fn field<'a>(&self, input: Items<'a>, name: &str) -> Result<Items<'a>, JsonPathError> {
        let mut out = Vec::new();
        for v in input {
            match v {
                Cow::Borrowed(Value::Object(m)) => out.extend(m.get(name).map(Cow::Borrowed)),
                Cow::Owned(Value::Object(m)) => out.extend(m.get(name).cloned().map(Cow::Owned)),
                _ => {}
            }
        }
        if out.is_empty() && !self.allow_missing_keys {
            return Err(eerr(format!("{name} is not found")));
        }
        Ok(out)
    }

    fn filter<'a>(
        &self,
        input: Items<'a>,
        left: &[Node],
        right: &[Node],
        op: &str,
    ) -> Result<Items<'a>, JsonPathError> {
        let mut out = Vec::new();
        for v in input {
            let elems: Items<'a> = match v {
                Cow::Borrowed(Value::Array(a)) => a.iter().map(Cow::Borrowed).collect(),
                Cow::Owned(Value::Array(a)) => a.into_iter().map(Cow::Owned).collect(),
                other => {
                    return Err(eerr(format!("{} is not array or slice and cannot be filtered", gofmt::v(&other))));
                }
            };
            for elem in elems {
                let lefts = self.list(vec![elem.clone()], left);
                if op == "exists" {
                    if lefts.is_ok_and(|l| !l.is_empty()) {
                        out.push(elem);
                    }
                    continue;
                }
                let lefts = lefts?;
                let l = match lefts.as_slice() {
                    [] => continue,
                    [one] => one.clone(),
                    _ => return Err(eerr("can only compare one element at a time")),
                };
                let rights = self.list(vec![elem.clone()], right)?;
                let r = match rights.as_slice() {
                    [] => continue,
                    [one] => one.clone(),
                    _ => return Err(eerr("can only compare one element at a time")),
                };
                if compare(op, &l, &r)? {
                    out.push(elem);
                }
            }
        }
        Ok(out)
    }
}

/// Map values (sorted by key), array items, or a string's bytes.
fn children<'a>(v: &Cow<'a, Value>) -> Items<'a> {
    match v {
        Cow::Borrowed(Value::Object(m)) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            keys.into_iter().filter_map(|k| m.get(k)).map(Cow::Borrowed).collect()
        }
        Cow::Borrowed(Value::Array(a)) => a.iter().map(Cow::Borrowed).collect(),
        Cow::Owned(Value::Object(m)) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            keys.into_iter().filter_map(|k| m.get(k).cloned()).map(Cow::Owned).collect()
        }
        Cow::Owned(Value::Array(a)) => a.iter().cloned().map(Cow::Owned).collect(),
        v => match v.as_ref() {
            Value::String(s) => s.bytes().map(|b| Cow::Owned(Value::from(b))).collect(),
            _ => Vec::new(),
        },
    }
}

fn recursive(input: Items<'_>) -> Items<'_> {
    let mut out = Vec::new();
    for v in input {
        let kids = children(&v);
        if !kids.is_empty() {
            out.push(v);
            out.extend(recursive(kids));
        }
    }
    out
}

fn array(input: Items<'_>, params: [Param; 3]) -> Result<Items<'_>, JsonPathError> {
    let mut out = Vec::new();
    for v in input {
        let items: Items<'_> = match v {
            Cow::Borrowed(Value::Array(a)) => a.iter().map(Cow::Borrowed).collect(),
            Cow::Owned(Value::Array(a)) => a.into_iter().map(Cow::Owned).collect(),
            Cow::Borrowed(Value::Null) | Cow::Owned(Value::Null) => continue,
            other => return Err(eerr(format!("{} is not array or slice", gofmt::type_name(&other)))),
        };
        let len = items.len() as i64;
        let mut p = params;
        if !p[0].known {
            p[0].value = 0;
        }
        if p[0].value < 0 {
            p[0].value += len;
        }
        if !p[1].known {
            p[1].value = len;
        }
        if p[1].value < 0 || (p[1].value == 0 && p[1].derived) {
            p[1].value += len;
        }
        if p[1].value == p[0].value {
            return Ok(out);
        }
        if p[0].value >= len || p[0].value < 0 {
            return Err(eerr(format!("array index out of bounds: index {}, length {len}", p[0].value)));
        }
        if p[1].value > len || p[1].value < 0 {
            return Err(eerr(format!("array index out of bounds: index {}, length {len}", p[1].value - 1)));
        }
        if p[0].value > p[1].value {
            return Err(eerr(format!("starting index {} is greater than ending index {}", p[0].value, p[1].value)));
        }
        let step = if p[2].known {
            if p[2].value <= 0 {
                return Err(eerr("step must be > 0"));
            }
            p[2].value as usize
        } else {
            1
        };
        out.extend(items.into_iter().skip(p[0].value as usize).take((p[1].value - p[0].value) as usize).step_by(step));
    }
    Ok(out)
}

#[derive(Clone, PartialEq)]
enum Basic {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

fn basic(v: &Value) -> Result<Basic, JsonPathError> {
    match v {
        Value::Bool(b) => Ok(Basic::Bool(*b)),
        Value::String(s) => Ok(Basic::Str(s.clone())),
        Value::Number(_) => match Num::of(v) {
            Some(Num::Int(i)) => Ok(Basic::Int(i)),
            Some(Num::Float(f)) => Ok(Basic::Float(f)),
            None => Err(eerr("invalid type for comparison")),
        },
        _ => Err(eerr("invalid type for comparison")),
    }
}

/// client-go's template comparison functions.
fn compare(op: &str, l: &Value, r: &Value) -> Result<bool, JsonPathError> {
    let (a, b) = (basic(l)?, basic(r)?);
    let incompatible = || eerr("incompatible types for comparison");
    let equal = || -> Result<bool, JsonPathError> {
        match (&a, &b) {
            (Basic::Bool(x), Basic::Bool(y)) => Ok(x == y),
            (Basic::Int(x), Basic::Int(y)) => Ok(x == y),
            (Basic::Float(x), Basic::Float(y)) => Ok(x == y),
            (Basic::Str(x), Basic::Str(y)) => Ok(x == y),
            _ => Err(incompatible()),
        }
    };
    let less = || -> Result<bool, JsonPathError> {
        match (&a, &b) {
            (Basic::Bool(_), Basic::Bool(_)) => Err(eerr("invalid type for comparison")),
            (Basic::Int(x), Basic::Int(y)) => Ok(x < y),
            (Basic::Float(x), Basic::Float(y)) => Ok(x < y),
            (Basic::Str(x), Basic::Str(y)) => Ok(x < y),
            _ => Err(incompatible()),
        }
    };
    match op {
        "==" => equal(),
        "!=" => equal().map(|e| !e),
        "<" => less(),
        "<=" => Ok(less()? || equal()?),
        ">" => Ok(!(less()? || equal()?)),
        ">=" => less().map(|l| !l),
        other => Err(eerr(format!("unrecognized filter operator {other}"))),
    }
}

#[cfg(test)]
#[path = "jsonpath_tests.rs"]
mod tests;
