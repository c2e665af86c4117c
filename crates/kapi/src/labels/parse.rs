//! Lexer and recursive-descent parser for the label selector string syntax, token for token
//! the grammar of upstream `labels.Parse`:
//!
//! ```text
//! <selector>    ::= <requirement> | <requirement> "," <selector>
//! <requirement> ::= [!] KEY [ <set-based> | <exact-match> | <numeric> ]
//! <set-based>   ::= ("in" | "notin") "(" VALUE { "," VALUE } ")"
//! <exact-match> ::= ("=" | "==" | "!=") VALUE
//! <numeric>     ::= (">" | "<") INTEGER
//! ```
//!
//! `in` and `notin` are keywords only where an operator is expected; as keys and values they
//! are plain identifiers (`in in (in)` is valid).

use super::{Operator, Requirement, SelectorError};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    End,
    Ident(&'a str),
    In,
    NotIn,
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    Greater,
    Less,
    Open,
    Close,
    Comma,
}

impl Token<'_> {
    fn text(&self) -> &str {
        match self {
            Token::End => "",
            Token::Ident(s) => s,
            Token::In => "in",
            Token::NotIn => "notin",
            Token::Bang => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::Greater => ">",
            Token::Less => "<",
            Token::Open => "(",
            Token::Close => ")",
            Token::Comma => ",",
        }
    }

    /// In value position the keywords are identifiers.
    fn in_value_position(self) -> Self {
        match self {
            Token::In => Token::Ident("in"),
            Token::NotIn => Token::Ident("notin"),
            t => t,
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn symbol(s: &str) -> Option<Token<'static>> {
    Some(match s {
        "!" => Token::Bang,
        "!=" => Token::NotEquals,
        "=" => Token::Equals,
        "==" => Token::DoubleEquals,
        ">" => Token::Greater,
        "<" => Token::Less,
        "(" => Token::Open,
        ")" => Token::Close,
        "," => Token::Comma,
        _ => return None,
    })
}

/// Splits the input into tokens; never fails (every special character is a token).
fn lex(input: &str) -> Vec<Token<'_>> {
    let bytes = input.as_bytes();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while pos < bytes.len() && is_space(bytes[pos]) {
            pos += 1;
        }
        if pos == bytes.len() {
            out.push(Token::End);
            return out;
        }
        let start = pos;
        if is_special(bytes[pos]) {
            // Longest run of special characters that still forms a symbol.
            let mut best = None;
            while pos < bytes.len() && is_special(bytes[pos]) {
                match symbol(&input[start..=pos]) {
                    Some(tok) => best = Some((tok, pos + 1)),
                    None if best.is_some() => break,
                    None => {}
                }
                pos += 1;
            }
            // Every single special character is a symbol, so `best` is always set.
            let (tok, end) = best.unwrap_or((Token::Comma, start + 1));
            out.push(tok);
            pos = end;
        } else {
            while pos < bytes.len() && !is_special(bytes[pos]) && !is_space(bytes[pos]) {
                pos += 1;
            }
            out.push(match &input[start..pos] {
                "in" => Token::In,
                "notin" => Token::NotIn,
                ident => Token::Ident(ident),
            });
        }
    }
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
}

fn syntax(found: &str, expected: &str) -> SelectorError {
    SelectorError::Syntax(format!("found '{found}', expected: {expected}"))
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Token<'a> {
        self.tokens.get(self.pos).cloned().unwrap_or(Token::End)
    }

    fn next(&mut self) -> Token<'a> {
        let t = self.peek();
        self.pos += 1;
        t
    }

    fn selector(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut reqs = Vec::new();
        loop {
            match self.peek().in_value_position() {
                Token::Ident(_) | Token::Bang => {
                    reqs.push(self.requirement()?);
                    match self.next().in_value_position() {
                        Token::End => return Ok(reqs),
                        Token::Comma => match self.peek().in_value_position() {
                            Token::Ident(_) | Token::Bang => {}
                            t => return Err(syntax(t.text(), "identifier after ','")),
                        },
                        t => return Err(syntax(t.text(), "',' or 'end of string'")),
                    }
                }
                Token::End => return Ok(reqs),
                t => return Err(syntax(t.text(), "!, identifier, or 'end of string'")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let negated = matches!(self.peek(), Token::Bang);
        if negated {
            self.pos += 1;
        }
        let key = match self.next().in_value_position() {
            Token::Ident(k) => k,
            t => return Err(syntax(t.text(), "identifier")),
        };
        super::check_key(key)?;
        if matches!(self.peek(), Token::End | Token::Comma) {
            let op = if negated { Operator::DoesNotExist } else { Operator::Exists };
            return Requirement::new(key, op, Vec::<String>::new());
        }
        if negated {
            // `!key` must be followed by ',' or the end.
            let t = self.peek();
            return Err(syntax(t.text(), "',' or 'end of string'"));
        }
        let op = match self.next() {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::Greater => Operator::GreaterThan,
            Token::Less => Operator::LessThan,
            t => return Err(syntax(t.text(), "in, notin, =, ==, !=, gt, lt")),
        };
        let values = match op {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => self.exact_value()?,
        };
        Requirement::new(key, op, values)
    }

    /// `( VALUE, … )`; empty entries stand for the empty string, as upstream.
    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.next().in_value_position() {
            Token::Open => {}
            t => return Err(SelectorError::Syntax(format!("found '{}' expected: '('", t.text()))),
        }
        let mut values = Vec::new();
        match self.peek().in_value_position() {
            Token::Close => {
                self.pos += 1;
                values.push(String::new());
                return Ok(values);
            }
            Token::Ident(_) | Token::Comma => {}
            t => return Err(syntax(t.text(), "',', ')' or identifier")),
        }
        let mut expect_value = true;
        loop {
            match self.next().in_value_position() {
                Token::Ident(v) if expect_value => {
                    values.push(v.to_owned());
                    expect_value = false;
                    match self.peek().in_value_position() {
                        Token::Comma | Token::Close => {}
                        t => return Err(syntax(t.text(), "',' or ')'")),
                    }
                }
                Token::Comma => {
                    if expect_value {
                        values.push(String::new());
                    }
                    expect_value = true;
                }
                Token::Close => {
                    if expect_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                t => return Err(syntax(t.text(), "',', or identifier")),
            }
        }
    }

    fn exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.peek().in_value_position() {
            Token::End | Token::Comma => Ok(vec![String::new()]),
            Token::Ident(v) => {
                self.pos += 1;
                Ok(vec![v.to_owned()])
            }
            t => Err(syntax(t.text(), "identifier")),
        }
    }
}

/// Parses a selector string into its requirements, in input order.
pub(super) fn parse(input: &str) -> Result<Vec<Requirement>, SelectorError> {
    let mut parser = Parser { tokens: lex(input), pos: 0 };
    parser.selector().map_err(|e| match e {
        SelectorError::Syntax(msg) => SelectorError::Syntax(format!("unable to parse requirement: {msg}")),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexer_takes_longest_symbol() {
        assert_eq!(lex("a!=b"), vec![Token::Ident("a"), Token::NotEquals, Token::Ident("b"), Token::End]);
        assert_eq!(lex("a==b"), vec![Token::Ident("a"), Token::DoubleEquals, Token::Ident("b"), Token::End]);
        assert_eq!(lex("=("), vec![Token::Equals, Token::Open, Token::End]);
        assert_eq!(lex("!!a"), vec![Token::Bang, Token::Bang, Token::Ident("a"), Token::End]);
        assert_eq!(
            lex(" x in (a) "),
            vec![Token::Ident("x"), Token::In, Token::Open, Token::Ident("a"), Token::Close, Token::End]
        );
        assert_eq!(lex("é=\u{e9}"), vec![Token::Ident("é"), Token::Equals, Token::Ident("é"), Token::End]);
    }
}
