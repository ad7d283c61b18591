//! The request as the WAF inspects it, and the fields rules name. Built once per request
//! from the host's request resource (or from a corpus row in tests).

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Deserialize;

use crate::transform::url_decode_once;

/// A part of the request a rule inspects. In config: `"path"`, `"query"`, `"method"`,
/// `"args"` (query and form-body values), `"arg_names"`, `"cookies"` (values),
/// `"headers"` (all values), `"header:<name>"`, `"body"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Field {
    Path,
    Query,
    Method,
    Args,
    ArgNames,
    Cookies,
    Headers,
    Header(String),
    Body,
}

impl TryFrom<String> for Field {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Ok(match s.as_str() {
            "path" => Field::Path,
            "query" => Field::Query,
            "method" => Field::Method,
            "args" => Field::Args,
            "arg_names" => Field::ArgNames,
            "cookies" => Field::Cookies,
            "headers" => Field::Headers,
            "body" => Field::Body,
            _ => match s.strip_prefix("header:") {
                Some(h) if !h.is_empty() => Field::Header(h.to_ascii_lowercase()),
                _ => {
                    return Err(format!(
                        "`{s}` is not a field (path, query, method, args, arg_names, cookies, headers, header:<name>, body)"
                    ));
                }
            },
        })
    }
}

/// What the WAF sees of a request.
#[derive(Debug, Default)]
pub struct Inspect<'a> {
    pub method: &'a str,
    /// Path as received (percent-encoding kept).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub host: &'a str,
    /// Header names lower-case.
    pub headers: Vec<(&'a str, &'a str)>,
    pub client_ip: Option<IpAddr>,
    /// The body, up to the inspection cap.
    pub body: Option<&'a [u8]>,
    /// Whether the body was parsed into arguments (a form or JSON).
    pub body_parsed: bool,
    /// Parsed arguments (query, then form body), decoded once.
    args: Vec<Arg<'a>>,
}

/// Where a field's values come from ([`Inspect::source`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// The field has no values in this request.
    Absent,
    /// Every value is read from this text alone.
    Text(&'a str),
    /// From several parts of the request.
    Scattered,
}

/// The most arguments (query, form or JSON body together) a request is read for.
const MAX_ARGS: usize = 256;

/// An argument's name and value, decoded: borrowed from the request when there was
/// nothing to decode (most are), so parsing allocates little.
pub type Arg<'a> = (Cow<'a, str>, Cow<'a, str>);

impl<'a> Inspect<'a> {
    /// Builds the view and parses arguments once.
    pub fn new(
        method: &'a str,
        path: &'a str,
        query: Option<&'a str>,
        host: &'a str,
        headers: Vec<(&'a str, &'a str)>,
        client_ip: Option<IpAddr>,
        body: Option<&'a [u8]>,
    ) -> Self {
        let mut args = Vec::new();
        if let Some(q) = query {
            parse_pairs(q, &mut args);
        }
        let mut me = Inspect {
            method,
            path,
            query,
            host,
            headers,
            client_ip,
            body,
            body_parsed: false,
            args,
        };
        if let Some(b) = body {
            let ctype = me.header("content-type").unwrap_or("").to_ascii_lowercase();
            let text = String::from_utf8_lossy(b);
            if ctype.is_empty() || ctype.starts_with("application/x-www-form-urlencoded") {
                match text {
                    Cow::Borrowed(text) => parse_pairs(text, &mut me.args),
                    // Not UTF-8: the pairs of the repaired text are owned, as many as
                    // the cap leaves after the query's.
                    Cow::Owned(text) => {
                        let mut pairs = Vec::new();
                        parse_pairs(&text, &mut pairs);
                        let room = MAX_ARGS.saturating_sub(me.args.len());
                        me.args.extend(pairs.into_iter().take(room).map(|(k, v)| {
                            (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned()))
                        }));
                    }
                }
                me.body_parsed = true;
            } else if ctype.contains("json") {
                json_strings(&text, &mut me.args);
                me.body_parsed = true;
            }
        }
        me
    }

    /// First value of a header (`name` lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// Query and form arguments as (name, value), decoded.
    pub fn args(&self) -> &[Arg<'a>] {
        &self.args
    }

    /// The values of `field` to inspect.
    pub fn values(&self, field: &Field) -> Vec<Cow<'_, str>> {
        match field {
            // Decoded and as sent (custom match rules see both spellings; detectors decode
            // again anyway), once when the same.
            Field::Path if self.path.contains('%') => {
                vec![decoded(self.path, false), Cow::Borrowed(self.path)]
            }
            Field::Path => vec![Cow::Borrowed(self.path)],
            Field::Query => self.query.map(Cow::Borrowed).into_iter().collect(),
            Field::Method => vec![Cow::Borrowed(self.method)],
            Field::Args => self
                .args
                .iter()
                .map(|(_, v)| Cow::Borrowed(v.as_ref()))
                .collect(),
            Field::ArgNames => self
                .args
                .iter()
                .map(|(k, _)| Cow::Borrowed(k.as_ref()))
                .collect(),
            Field::Cookies => self
                .headers
                .iter()
                .filter(|(n, _)| *n == "cookie")
                .flat_map(|(_, v)| split_ascii(v, b';'))
                .map(|c| {
                    let v = split_once_ascii(c, b'=').map_or(c, |(_, v)| v);
                    decoded(v.trim(), false)
                })
                .collect(),
            Field::Headers => self
                .headers
                .iter()
                .map(|(_, v)| Cow::Borrowed(*v))
                .collect(),
            Field::Header(h) => self
                .headers
                .iter()
                .filter(|(n, _)| n == h)
                .map(|(_, v)| Cow::Borrowed(*v))
                .collect(),
            Field::Body => self
                .body
                .map(|b| String::from_utf8_lossy(b))
                .into_iter()
                .collect(),
        }
    }

    /// Where every value of `field` is read from: nowhere (the field has no values), one
    /// piece of the request (the path, the query — for arguments too, unless a parsed
    /// body adds to them —, the only Cookie header, the only value of a header, a UTF-8
    /// body), or several. Whatever is said of the field's values is said of that one
    /// piece, so verdicts can be remembered by it (see `crate::memo`).
    pub fn source(&self, field: &Field) -> Source<'a> {
        let text = |t: Option<&'a str>| t.map_or(Source::Absent, Source::Text);
        match field {
            Field::Path => Source::Text(self.path),
            Field::Method => Source::Text(self.method),
            Field::Query => text(self.query),
            Field::Args | Field::ArgNames if !self.body_parsed => text(self.query),
            Field::Args | Field::ArgNames if self.args.is_empty() => Source::Absent,
            Field::Cookies => self.only_header("cookie"),
            Field::Header(h) => self.only_header(h),
            Field::Body => match self.body.map(std::str::from_utf8) {
                None => Source::Absent,
                Some(Ok(b)) => Source::Text(b),
                Some(Err(_)) => Source::Scattered,
            },
            Field::Args | Field::ArgNames | Field::Headers => Source::Scattered,
        }
    }

    /// Where the values of header `name` come from.
    fn only_header(&self, name: &str) -> Source<'a> {
        let mut values = self.headers.iter().filter(|(n, _)| *n == name);
        match (values.next(), values.next()) {
            (None, _) => Source::Absent,
            (Some((_, v)), None) => Source::Text(v),
            _ => Source::Scattered,
        }
    }

    /// Length in bytes of `field` (all values together).
    pub fn size(&self, field: &Field) -> u64 {
        match field {
            Field::Body => self.body.map_or(0, |b| b.len() as u64),
            Field::Path => self.path.len() as u64,
            f => self.values(f).iter().map(|v| v.len() as u64).sum(),
        }
    }
}

/// `s` percent-decoded once (`+` as a space too in form-encoded names and values),
/// borrowed when there is nothing to decode.
fn decoded(s: &str, plus_is_space: bool) -> Cow<'_, str> {
    if s.bytes().any(|b| b == b'%' || (plus_is_space && b == b'+')) {
        Cow::Owned(url_decode_once(s, plus_is_space))
    } else {
        Cow::Borrowed(s)
    }
}

/// `a=1&b=2` into decoded pairs (a name without `=` is a value too, for `?<script>`).
fn parse_pairs<'s>(s: &'s str, out: &mut Vec<Arg<'s>>) {
    for part in split_ascii(s, b'&') {
        if part.is_empty() {
            continue;
        }
        match split_once_ascii(part, b'=') {
            Some((k, v)) => out.push((decoded(k, true), decoded(v, true))),
            None => {
                let d = decoded(part, true);
                out.push((d.clone(), d));
            }
        }
        if out.len() >= MAX_ARGS {
            break;
        }
    }
}

/// `s` split at every `sep`, an ASCII byte, as `str::split` splits it. A plain byte loop:
/// in Wasm, `split`'s char searcher sets a `memchr` up for every piece, which cost more
/// than the scan on the short pieces of queries and cookies (~230 instructions a piece).
fn split_ascii(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    debug_assert!(sep.is_ascii());
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.bytes().position(|b| b == sep) {
            Some(i) => {
                // An ASCII byte ends a character: both slices are on char boundaries.
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// `s` split at the first `sep`, an ASCII byte, as `str::split_once` splits it.
fn split_once_ascii(s: &str, sep: u8) -> Option<(&str, &str)> {
    debug_assert!(sep.is_ascii());
    let i = s.bytes().position(|b| b == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

/// String values of a JSON document, found by scanning (no full parse: the body may be
/// cut at the inspection cap).
fn json_strings(s: &str, out: &mut Vec<Arg<'_>>) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && out.len() < MAX_ARGS {
        if b[i] == b'"' {
            let mut j = i + 1;
            let mut v = String::new();
            while j < b.len() && b[j] != b'"' {
                if b[j] == b'\\' && j + 1 < b.len() {
                    j += 1;
                    match b[j] {
                        b'n' => v.push('\n'),
                        b't' => v.push('\t'),
                        // Four ASCII bytes, or the skip would land inside a character.
                        b'u' if b.get(j + 1..j + 5).is_some_and(|d| d.is_ascii()) => {
                            if let Some(c) = crate::transform::hex_number(&b[j + 1..j + 5])
                                .and_then(char::from_u32)
                            {
                                v.push(c);
                            }
                            j += 4;
                        }
                        // Any other escaped character as itself, whole (a non-ASCII
                        // one is several bytes long).
                        _ => {
                            let c = s[j..].chars().next().unwrap_or(' ');
                            v.push(c);
                            j += c.len_utf8() - 1;
                        }
                    }
                    j += 1;
                    continue;
                }
                let c = s[j..].chars().next().unwrap_or(' ');
                v.push(c);
                j += c.len_utf8();
            }
            out.push((Cow::Borrowed(""), Cow::Owned(v)));
            i = j + 1;
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_splits_agree_with_str_splits() {
        for s in [
            "",
            "&",
            "a",
            "a=1&b=2",
            "&&x=&",
            "é=ü&ß",
            "k==v",
            "=",
            "a;b; c=d;",
        ] {
            for sep in [b'&', b'=', b';'] {
                let ours: Vec<&str> = split_ascii(s, sep).collect();
                let std: Vec<&str> = s.split(sep as char).collect();
                assert_eq!(ours, std, "{s:?} split at {:?}", sep as char);
                assert_eq!(
                    split_once_ascii(s, sep),
                    s.split_once(sep as char),
                    "{s:?} split once at {:?}",
                    sep as char
                );
            }
        }
    }
}
