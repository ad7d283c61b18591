//! Text transformations applied before matching, so that encodings an attacker can pick
//! freely (percent-encoding, entities, case, padding) do not hide a payload.

use serde::Deserialize;

/// One transformation, as named in config (`transforms = ["url_decode", "lowercase"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// Percent-decoding (and `+` as space), repeated until nothing changes (at most 4
    /// rounds: double and triple encoding are common evasions).
    UrlDecode,
    /// `&lt;`, `&#60;`, `&#x3c;` (with or without the `;`) and the common named entities.
    HtmlEntityDecode,
    Lowercase,
    /// Runs of white space (including vertical tab, form feed, NBSP) become one space.
    CompressWhitespace,
    /// NUL bytes removed.
    RemoveNulls,
    /// `\` as `/`, `//` collapsed, `/./` removed and `/../` resolved.
    NormalisePath,
    /// Base64 decoded if the whole value is base64 (else unchanged).
    Base64Decode,
}

/// Applies `transforms` in order.
pub fn apply(input: &str, transforms: &[Transform]) -> String {
    let mut s = input.to_owned();
    for t in transforms {
        s = match t {
            Transform::UrlDecode => url_decode_repeated(&s),
            Transform::HtmlEntityDecode => html_entity_decode(&s),
            Transform::Lowercase => s.to_lowercase(),
            Transform::CompressWhitespace => compress_whitespace(&s),
            Transform::RemoveNulls => s.replace('\0', ""),
            Transform::NormalisePath => normalise_path(&s),
            Transform::Base64Decode => base64_decode(&s).unwrap_or(s),
        };
    }
    s
}

/// The number `digits` spell, when every one is an ASCII hex digit.
pub(crate) fn hex_number(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |n, &d| Some(n << 4 | u32::from(hex(d)?)))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One round of percent-decoding. Also takes IIS's `%uXXXX`, and maps the overlong
/// UTF-8 forms of `/`, `\` and `.` (`%c0%af`, `%c1%9c`, `%c0%ae`) to what they mean,
/// since old servers did.
pub fn url_decode_once(input: &str, plus_as_space: bool) -> String {
    let b = input.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some() => {
                if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                    let v = h * 16 + l;
                    // Overlong encodings of ASCII punctuation.
                    if (v == 0xc0 || v == 0xc1)
                        && i + 5 < b.len()
                        && b[i + 3] == b'%'
                        && let (Some(h2), Some(l2)) = (hex(b[i + 4]), hex(b[i + 5]))
                    {
                        let w = h2 * 16 + l2;
                        let ch = (((v & 0x1f) as u32) << 6) | (w & 0x3f) as u32;
                        if ch < 0x80 {
                            out.push(ch as u8);
                            i += 6;
                            continue;
                        }
                    }
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(b'%');
                i += 1;
            }
            b'%' if i + 5 < b.len() && (b[i + 1] == b'u' || b[i + 1] == b'U') => {
                match hex_number(&b[i + 2..i + 6]) {
                    Some(cp) => {
                        // Fullwidth forms (U+FF01..) are how `%uff0e` spelled `.`.
                        let cp = if (0xff01..=0xff5e).contains(&cp) {
                            cp - 0xfee0
                        } else {
                            cp
                        };
                        let mut buf = [0u8; 4];
                        let c = char::from_u32(cp).unwrap_or('\u{fffd}');
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        i += 6;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-decoding repeated until stable (at most 4 rounds).
pub fn url_decode_repeated(input: &str) -> String {
    let mut s = input.to_owned();
    for _ in 0..4 {
        if !s.contains('%') && !s.contains('+') {
            break;
        }
        let next = url_decode_once(&s, true);
        if next == s {
            break;
        }
        s = next;
    }
    s
}

/// Percent-decoding repeated on a value that was decoded once already: `+` is kept (it
/// was a space where it meant one), `%xx` sequences left by double encoding go.
pub fn url_decode_again(input: &str) -> String {
    let mut s = input.to_owned();
    for _ in 0..3 {
        if !s.contains('%') {
            break;
        }
        let next = url_decode_once(&s, false);
        if next == s {
            break;
        }
        s = next;
    }
    s
}

/// HTML character references decoded (numeric always; named for the characters that
/// matter to markup and scripts). A missing `;` is tolerated, as browsers do.
pub fn html_entity_decode(input: &str) -> String {
    if !input.contains('&') {
        return input.to_owned();
    }
    const NAMED: &[(&str, char)] = &[
        ("lt", '<'),
        ("gt", '>'),
        ("amp", '&'),
        ("quot", '"'),
        ("apos", '\''),
        ("nbsp", ' '),
        ("colon", ':'),
        ("lpar", '('),
        ("rpar", ')'),
        ("sol", '/'),
        ("bsol", '\\'),
        ("tab", '\t'),
        ("newline", '\n'),
        ("semi", ';'),
        ("equals", '='),
        ("grave", '`'),
        ("period", '.'),
        ("comma", ','),
        ("excl", '!'),
        ("num", '#'),
        ("plus", '+'),
        ("lsqb", '['),
        ("rsqb", ']'),
        ("lcub", '{'),
        ("rcub", '}'),
    ];
    let b = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'&' {
            let rest = &input[i + 1..];
            if let Some(num) = rest.strip_prefix('#') {
                let (radix, digits) = match num.strip_prefix(['x', 'X']) {
                    Some(h) => (16, h),
                    None => (10, num),
                };
                let len = digits
                    .bytes()
                    .take_while(|c| (c.is_ascii_hexdigit() && radix == 16) || c.is_ascii_digit())
                    .count();
                if len > 0 {
                    let v = u32::from_str_radix(&digits[..len.min(8)], radix).unwrap_or(0xfffd);
                    out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    let consumed = 1 + (num.len() - digits.len()) + len;
                    i += 1 + consumed;
                    if b.get(i) == Some(&b';') {
                        i += 1;
                    }
                    continue;
                }
            } else if let Some((name, c)) = NAMED.iter().find(|(n, _)| {
                rest.len() >= n.len()
                    && rest.as_bytes()[..n.len()].eq_ignore_ascii_case(n.as_bytes())
            }) {
                out.push(*c);
                i += 1 + name.len();
                if b.get(i) == Some(&b';') {
                    i += 1;
                }
                continue;
            }
        }
        let c = input[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn compress_whitespace(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut last_space = false;
    for c in input.chars() {
        if c.is_whitespace() || c == '\u{b}' || c == '\u{c}' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

/// Resolves a path the way a file system would, so `/a/./b/../../etc` is seen as `/etc`.
/// A `..` above the root is kept (that is what makes it a traversal).
pub fn normalise_path(input: &str) -> String {
    let s = input.replace('\\', "/");
    let absolute = s.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in s.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(p) if *p != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let mut out = if absolute {
        "/".to_owned()
    } else {
        String::new()
    };
    out.push_str(&parts.join("/"));
    if s.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Standard or URL-safe base64 (padding optional); `None` unless the whole value is
/// base64 of at least 4 characters.
pub fn base64_decode(input: &str) -> Option<String> {
    let t = input.trim().trim_end_matches('=');
    if t.len() < 4 {
        return None;
    }
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    for c in t.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_decoding_repeats_and_takes_overlong_forms() {
        assert_eq!(url_decode_repeated("%252e%252e%252f"), "../");
        assert_eq!(url_decode_repeated("%c0%ae%c0%ae%c0%af"), "../");
        assert_eq!(url_decode_repeated("%u002e%uff0e/"), "../");
        assert_eq!(url_decode_repeated("a+b%2"), "a b%2");
    }

    #[test]
    fn entities_with_and_without_semicolons() {
        assert_eq!(
            html_entity_decode("&lt;a&#62;&#x3C;&#106avascript"),
            "<a><javascript"
        );
        assert_eq!(html_entity_decode("AT&T"), "AT&T");
    }

    #[test]
    fn paths_resolve_but_keep_escapes_above_root() {
        assert_eq!(normalise_path("/a/./b/../c"), "/a/c");
        assert_eq!(normalise_path("..\\..\\windows"), "../../windows");
    }

    #[test]
    fn base64_only_when_whole_value_is() {
        assert_eq!(base64_decode("PHNjcmlwdD4=").as_deref(), Some("<script>"));
        assert_eq!(base64_decode("hello world"), None);
    }

    #[test]
    fn transforms_chain_in_order() {
        let t = [
            Transform::UrlDecode,
            Transform::Lowercase,
            Transform::CompressWhitespace,
        ];
        assert_eq!(apply("SELECT%20%20%09X", &t), "select x");
    }
}
