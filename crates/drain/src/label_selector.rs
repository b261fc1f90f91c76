//! Label selectors in the API server's grammar (kured's `--blocking-pod-selector`,
//! `--drain-pod-selector`), checked before they are sent.
//!
//! A port of the grammar of k8s.io/apimachinery `pkg/labels/selector.go` (`Parse`: its `Lexer`
//! and `Parser`, then `NewRequirement`'s checks), which the API server runs on a
//! `labelSelector` and kubectl's drain on a pod selector. What it accepts, this accepts; only
//! the selector itself is not built, as the API server does the matching.

use crate::labels::{key_problem, value_problem};

/// A label selector that the API server would refuse; the message names it and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(String);

impl SelectorError {
    /// An error with this message.
    pub(crate) fn new(message: String) -> Self {
        Self(message)
    }
}

/// Checks a label selector's syntax as the API server parses it: comma-separated
/// requirements `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)`,
/// `key notin (a,b)`, `key>1`, `key<1` (integers), with spaces, tabs and line breaks allowed
/// between the parts. Keys and values follow the label rules ([`crate::check_label`]); a
/// value may be empty (`key=`, `key in ()`). A selector without any requirement (it would
/// match every pod) is refused.
///
/// ```
/// assert!(drain::check_label_selector("app in (db, cache),!canary").is_ok());
/// assert!(drain::check_label_selector("tier=,priority>5").is_ok());
/// let e = drain::check_label_selector("app=(x").unwrap_err();
/// assert!(e.to_string().starts_with("invalid label selector"));
/// ```
pub fn check_label_selector(s: &str) -> Result<(), SelectorError> {
    let requirements = Parser::new(s)
        .requirements()
        .map_err(|e| SelectorError(format!("invalid label selector {s:?}: {e}")))?;
    if requirements == 0 {
        return Err(SelectorError(
            "empty label selector (it would match every pod)".into(),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Identifier(String),
    In,
    NotIn,
    /// `!`
    DoesNotExist,
    /// `=`
    Equals,
    /// `==`
    DoubleEquals,
    /// `!=`
    NotEquals,
    /// `>`
    GreaterThan,
    /// `<`
    LessThan,
    OpenPar,
    ClosedPar,
    Comma,
    End,
}

impl Token {
    /// How Go's messages show a token (its literal text).
    fn literal(&self) -> &str {
        match self {
            Self::Identifier(s) => s,
            Self::In => "in",
            Self::NotIn => "notin",
            Self::DoesNotExist => "!",
            Self::Equals => "=",
            Self::DoubleEquals => "==",
            Self::NotEquals => "!=",
            Self::GreaterThan => ">",
            Self::LessThan => "<",
            Self::OpenPar => "(",
            Self::ClosedPar => ")",
            Self::Comma => ",",
            Self::End => "",
        }
    }

    /// `in` and `notin` are ordinary words where a key or value is expected (Go's
    /// `lookahead(Values)` / `consume(Values)`).
    fn into_value(self) -> Self {
        match self {
            Self::In => Self::Identifier("in".into()),
            Self::NotIn => Self::Identifier("notin".into()),
            other => other,
        }
    }
}

/// Go's `isWhitespace`: only these four separate tokens.
fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Go's `isSpecialSymbol`.
fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

/// Go's `Lexer.Lex` over the whole input. Every single special character is a token, and
/// the lexer takes the longest run of special characters that is one, so `==` and `!=` are
/// the only two-character operators (`a===b` is `a`, `==`, `=`, `b`).
fn lex(s: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches(is_whitespace);
        let Some(c) = rest.chars().next() else {
            tokens.push(Token::End);
            return tokens;
        };
        if is_special(c) {
            let (token, len) = match (c, rest.as_bytes().get(1)) {
                ('=', Some(b'=')) => (Token::DoubleEquals, 2),
                ('!', Some(b'=')) => (Token::NotEquals, 2),
                ('=', _) => (Token::Equals, 1),
                ('!', _) => (Token::DoesNotExist, 1),
                ('(', _) => (Token::OpenPar, 1),
                (')', _) => (Token::ClosedPar, 1),
                (',', _) => (Token::Comma, 1),
                ('>', _) => (Token::GreaterThan, 1),
                _ => (Token::LessThan, 1),
            };
            tokens.push(token);
            rest = &rest[len..];
        } else {
            let end = rest
                .find(|c| is_special(c) || is_whitespace(c))
                .unwrap_or(rest.len());
            tokens.push(match &rest[..end] {
                "in" => Token::In,
                "notin" => Token::NotIn,
                word => Token::Identifier(word.to_string()),
            });
            rest = &rest[end..];
        }
    }
}

/// The binary operators, as Go lists them in its message.
const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Exists,
    DoesNotExist,
    Set,
    Exact,
    Integer,
}

/// Go's `Parser`, checking as it goes instead of building requirements.
struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn new(s: &str) -> Self {
        Self {
            tokens: lex(s),
            position: 0,
        }
    }

    fn lookahead(&self) -> Token {
        // The lexer always ends with `End`, and `consume` never moves past it.
        self.tokens
            .get(self.position)
            .cloned()
            .unwrap_or(Token::End)
            .into_value()
    }

    /// The next token, without turning `in`/`notin` into words (Go's `KeyAndOperator`).
    fn consume_operator(&mut self) -> Token {
        let token = self
            .tokens
            .get(self.position)
            .cloned()
            .unwrap_or(Token::End);
        if token != Token::End {
            self.position += 1;
        }
        token
    }

    fn consume(&mut self) -> Token {
        self.consume_operator().into_value()
    }

    /// Go's `parse`: the number of requirements, or the first error.
    fn requirements(&mut self) -> Result<usize, String> {
        let mut count = 0;
        loop {
            match self.lookahead() {
                Token::Identifier(_) | Token::DoesNotExist => {
                    self.requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    count += 1;
                    match self.consume() {
                        Token::End => return Ok(count),
                        Token::Comma => {
                            let next = self.lookahead();
                            if !matches!(next, Token::Identifier(_) | Token::DoesNotExist) {
                                return Err(format!(
                                    "found '{}', expected: identifier after ','",
                                    next.literal()
                                ));
                            }
                        }
                        other => {
                            return Err(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                other.literal()
                            ));
                        }
                    }
                }
                Token::End => return Ok(count),
                other => {
                    return Err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        other.literal()
                    ));
                }
            }
        }
    }

    /// Go's `parseRequirement` with `NewRequirement`'s checks.
    fn requirement(&mut self) -> Result<(), String> {
        let (key, unary) = self.key_and_unary_operator()?;
        let operator = match unary {
            Some(op) => op,
            None => match self.consume_operator() {
                Token::In | Token::NotIn => Operator::Set,
                Token::Equals | Token::DoubleEquals | Token::NotEquals => Operator::Exact,
                Token::GreaterThan | Token::LessThan => Operator::Integer,
                other => {
                    return Err(format!(
                        "found '{}', expected: {BINARY_OPERATORS}",
                        other.literal()
                    ));
                }
            },
        };
        let values = match operator {
            Operator::Exists | Operator::DoesNotExist => Vec::new(),
            Operator::Set => self.set_values()?,
            Operator::Exact | Operator::Integer => vec![self.exact_value()?],
        };
        for value in &values {
            if operator == Operator::Integer && value.parse::<i64>().is_err() {
                return Err(format!(
                    "key {key:?}: for '>' and '<' the value must be an integer, not {value:?}"
                ));
            }
            if let Some(problem) = value_problem(value) {
                return Err(format!(
                    "invalid value {value:?} for key {key:?}: {problem}"
                ));
            }
        }
        Ok(())
    }

    /// Go's `parseKeyAndInferOperator`: the key, and `Exists`/`DoesNotExist` when no binary
    /// operator follows.
    fn key_and_unary_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut token = self.consume();
        let negated = token == Token::DoesNotExist;
        if negated {
            token = self.consume();
        }
        let Token::Identifier(key) = token else {
            return Err(format!("found '{}', expected: identifier", token.literal()));
        };
        if let Some(problem) = key_problem(&key) {
            return Err(format!("invalid key {key:?}: {problem}"));
        }
        let operator = if negated {
            // Go leaves `!key` a does-not-exist requirement whatever follows; a binary
            // operator after it is then an error of the requirement list.
            Some(Operator::DoesNotExist)
        } else if matches!(self.lookahead(), Token::End | Token::Comma) {
            Some(Operator::Exists)
        } else {
            None
        };
        Ok((key, operator))
    }

    /// Go's `parseValues` and `parseIdentifiersList`: `( a, b )`, where empty items are the
    /// empty value (`()`, `(,a)`, `(a,,b)`).
    fn set_values(&mut self) -> Result<Vec<String>, String> {
        let open = self.consume();
        if open != Token::OpenPar {
            return Err(format!("found '{}' expected: '('", open.literal()));
        }
        match self.lookahead() {
            Token::ClosedPar => {
                self.consume();
                return Ok(vec![String::new()]);
            }
            Token::Identifier(_) | Token::Comma => {}
            other => {
                return Err(format!(
                    "found '{}', expected: ',', ')' or identifier",
                    other.literal()
                ));
            }
        }
        let mut values = Vec::new();
        loop {
            match self.consume() {
                Token::Identifier(value) => {
                    values.push(value);
                    match self.lookahead() {
                        Token::Comma => {}
                        Token::ClosedPar => break,
                        other => {
                            return Err(format!(
                                "found '{}', expected: ',' or ')'",
                                other.literal()
                            ));
                        }
                    }
                }
                Token::Comma => match self.lookahead() {
                    Token::ClosedPar => {
                        values.push(String::new());
                        break;
                    }
                    Token::Comma => {
                        self.consume();
                        values.push(String::new());
                    }
                    _ => {
                        if values.is_empty() {
                            values.push(String::new());
                        }
                    }
                },
                other => {
                    return Err(format!(
                        "found '{}', expected: ',', or identifier",
                        other.literal()
                    ));
                }
            }
        }
        // The loop stops only on a `)` it looked at.
        self.consume();
        Ok(values)
    }

    /// Go's `parseExactValue`: one word, or the empty value before `,` or the end.
    fn exact_value(&mut self) -> Result<String, String> {
        if matches!(self.lookahead(), Token::End | Token::Comma) {
            return Ok(String::new());
        }
        match self.consume() {
            Token::Identifier(value) => Ok(value),
            other => Err(format!("found '{}', expected: identifier", other.literal())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        for ok in [
            "app=x",
            "app==x",
            "app!=x",
            "!app",
            "app",
            "example.com/a=b",
            "a in (x, y),!b",
            "a notin (x)",
        ] {
            assert!(check_label_selector(ok).is_ok(), "{ok}");
        }
        for bad in ["", "app=x,", "a in x", "=x", "a=(x", "a b", "app=-x"] {
            assert!(check_label_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_selector() {
        let e = check_label_selector("a=(x").unwrap_err().to_string();
        assert!(e.starts_with("invalid label selector \"a=(x\""), "{e}");
        let e = check_label_selector(" ").unwrap_err().to_string();
        assert!(e.contains("match every pod"), "{e}");
    }

    #[test]
    fn lexer_takes_two_character_operators_greedily() {
        assert_eq!(
            lex("a===b"),
            [
                Token::Identifier("a".into()),
                Token::DoubleEquals,
                Token::Equals,
                Token::Identifier("b".into()),
                Token::End
            ]
        );
        assert_eq!(
            lex("!a!=in(x)"),
            [
                Token::DoesNotExist,
                Token::Identifier("a".into()),
                Token::NotEquals,
                Token::In,
                Token::OpenPar,
                Token::Identifier("x".into()),
                Token::ClosedPar,
                Token::End
            ]
        );
    }
}
