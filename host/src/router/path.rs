//! The form of a request path that behaviors are matched against: percent-encoded
//! visible characters decoded, `.` and `..` segments resolved (RFC 3986 §5.2.4) and
//! runs of slashes merged. Origins commonly do all three before choosing what to serve,
//! so matching the path as received would let `/public/../admin/x`, `/%61dmin/x` or
//! `//admin/x` reach an `/admin/*` resource through another behavior (one without the
//! functions guarding it). The path sent to the origin and shown to functions stays as
//! received, as CloudFront does.

use std::borrow::Cow;

/// `path` as behaviors see it; borrowed when there is nothing to resolve (the usual case).
pub fn for_matching(path: &str) -> Cow<'_, str> {
    if !needs_work(path.as_bytes()) {
        return Cow::Borrowed(path);
    }
    let decoded = decode_visible(path);
    Cow::Owned(resolve_segments(&decoded))
}

/// Whether `path` holds a percent sign, a `//`, or a segment starting with `.`.
fn needs_work(path: &[u8]) -> bool {
    path.iter().enumerate().any(|(i, &b)| match b {
        b'%' => true,
        b'/' => matches!(path.get(i + 1), Some(b'/' | b'.')),
        _ => false,
    }) || path.first() == Some(&b'.')
}

/// Decodes `%XX` where it stands for a visible ASCII character (`%2e`, `%2F`, `%61`);
/// other escapes (controls, space, non-ASCII bytes) stay as they are. One pass, as an
/// origin decodes once: `%252e` becomes `%2e`, not `.`.
fn decode_visible(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            && byte.is_ascii_graphic()
        {
            out.push(byte as char);
            i += 3;
            continue;
        }
        // Copy up to the next escape whole, so multi-byte characters stay intact.
        let next = bytes[i + 1..]
            .iter()
            .position(|&b| b == b'%')
            .map_or(bytes.len(), |p| i + 1 + p);
        out.push_str(&path[i..next]);
        i = next;
    }
    out
}

/// Resolves `.` and `..` segments (never above the root) and merges empty ones; keeps a
/// trailing slash, and the one a final `.` or `..` stands for.
fn resolve_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/') {
        trailing_slash = true;
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => {
                kept.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || kept.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_are_borrowed_unchanged() {
        for path in ["/", "/index.html", "/a/b.c/d", "/v1.2/x", "/api/"] {
            assert!(matches!(for_matching(path), Cow::Borrowed(p) if p == path));
        }
    }

    #[test]
    fn dot_segments_and_repeated_slashes_are_resolved() {
        for (path, want) in [
            ("/public/../admin/x", "/admin/x"),
            ("/a/./b", "/a/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("//admin//x", "/admin/x"),
            ("/admin/", "/admin/"),
            ("/a/.well-known/x", "/a/.well-known/x"),
            ("/..", "/"),
        ] {
            assert_eq!(for_matching(path), want, "{path}");
        }
    }

    #[test]
    fn escaped_visible_characters_are_decoded_once() {
        for (path, want) in [
            ("/%61dmin/x", "/admin/x"),
            ("/public/%2e%2e/admin/x", "/admin/x"),
            ("/public/%2E%2E%2Fadmin/x", "/admin/x"),
            ("/admin%2Fx", "/admin/x"),
            ("/a%252e/x", "/a%2e/x"),
            ("/a%20b/%00/%zz/%4", "/a%20b/%00/%zz/%4"),
            ("/caf%C3%A9/é", "/caf%C3%A9/é"),
        ] {
            assert_eq!(for_matching(path), want, "{path}");
        }
    }
}
