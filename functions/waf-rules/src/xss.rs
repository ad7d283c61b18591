//! Cross-site scripting detection. The value is first decoded the way a browser would
//! read it (entities, then control characters and white space inside scheme names
//! removed), then scanned for the three ways script gets in: a tag that runs script or
//! loads content, an event-handler attribute (also after a quote breaks out of one), and
//! a script URL or script call. Plain markup (`<b>`, `a < b`) passes.

use crate::text::{Needles, byte_table, has, positions};
use crate::transform::html_entity_decode;

/// Tags that run script, load documents or change how the page is parsed: suspicious
/// on their own. (`<svg>` and `<math>` are not: an SVG image runs nothing until it
/// holds a handler, a script or a script URL, and those are looked for anyway.)
const DANGEROUS_TAGS: &[&str] = &[
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "base",
    "meta",
    "link",
    "style",
    "isindex",
    "xml",
    "import",
    "xss",
    "vmlframe",
    "bgsound",
    "layer",
    "ilayer",
    "handler",
    "listener",
    "animate",
    "portal",
    "xmp",
    "plaintext",
    "noscript",
    "template",
    "marquee",
];

/// Script calls and property reads that have no business in ordinary input.
const SCRIPT_SINKS: &[&str] = &[
    "alert(",
    "alert`",
    "prompt(",
    "prompt`",
    "confirm(",
    "confirm`",
    "eval(",
    "eval`",
    "document.cookie",
    "document.write",
    "document.domain",
    "document.location",
    "window.location",
    "fromcharcode",
    ".innerhtml",
    "settimeout(",
    "setinterval(",
    "new function",
    "constructor(",
    "atob(",
    "top[",
    "window[",
    "self[",
    "parent[",
    "frames[",
    "globalthis[",
    "import(",
    "location.hash",
    "location.href=",
    ".src=",
    "string.fromcharcode",
    "expression(",
    "-moz-binding",
    "behavior:",
    "javascript:",
    "vbscript:",
    "livescript:",
    "mocha:",
    "data:text/html",
    "data:image/svg",
    "data:application/x",
    "srcdoc=",
    "xlink:href",
    "formaction",
    "background:url",
    "onerror=",
    "onload=",
    "behaviour:",
    "binding:",
    "datasrc",
    "dataformatas",
    "<!entity",
    "ev:event",
    "ev:handler",
    "xmlns:xi",
    "xi:include",
    "schemalocation",
    "xsi:",
    "<!doctype",
    "jscript:",
    "ecmascript:",
    "document.queryselector",
    ".textcontent=",
    "].sort",
    ".call`",
    "alert}",
    "[![]",
    "(![]",
];

/// All of [`SCRIPT_SINKS`] in one automaton: a value is scanned once, not once a sink.
static SINKS: Needles = Needles::new(SCRIPT_SINKS);

/// Builds the detector's automaton now, at configuration time, so that it is part of
/// the function's snapshot instead of being built by each instance's first request.
pub(crate) fn prepare() {
    SINKS.prepare();
}

/// Whether `hay` calls or reads a script sink (see [`word_starts_at`] for the boundary).
fn has_sink(hay: &str) -> bool {
    SINKS.find(hay, |at, needle| word_starts_at(hay, needle, at))
}

/// The bytes one of [`is_xss`]'s checks needs (a `(` only glued to a name).
static XSS_SYNTAX: [bool; 256] = byte_table(b"<`:=[\\&{(");

/// True when `value` (already URL-decoded) looks like an XSS attack.
pub fn is_xss(value: &str) -> bool {
    // Every check below needs markup, a call, a scheme, an attribute, an index, an
    // escape or an entity: a value with none of those characters (most values) is done
    // after one scan.
    // A `(` counts only as a call (glued to a name): a browser's User-Agent has
    // `Mozilla/5.0 (Linux; ...)`, which calls nothing.
    let b = value.as_bytes();
    let suspicious = b.iter().enumerate().any(|(i, &c)| {
        XSS_SYNTAX[usize::from(c)]
            && (c != b'('
                || (i > 0
                    && (b[i - 1].is_ascii_alphanumeric()
                        || matches!(b[i - 1], b')' | b'\'' | b'"' | b'_' | b'$'))))
    });
    if value.len() < 4 || !suspicious {
        return false;
    }
    let decoded = html_entity_decode(&html_entity_decode(value));
    // Browsers drop tabs, newlines and NULs inside scheme names (`java\tscript:`) and
    // read `\u0061`-style escapes in scripts; normalise both away.
    let mut flat = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        match c {
            '\t' | '\n' | '\r' | '\0' | '\u{b}' | '\u{c}' => {}
            c => flat.extend(c.to_lowercase()),
        }
    }
    let flat = unescape_js(&flat);
    if has_sink(&flat) {
        return true;
    }
    // Script ignores white space between tokens (`alert (1)`, `document . cookie`), not
    // inside a name: a space between two name characters stays.
    let mut squeezed = String::with_capacity(flat.len());
    let mut gap = false;
    for c in flat.chars() {
        if c.is_whitespace() {
            gap = true;
            continue;
        }
        if gap && is_name_char(c) && squeezed.chars().next_back().is_some_and(is_name_char) {
            squeezed.push(' ');
        }
        gap = false;
        squeezed.push(c);
    }
    if has_sink(&squeezed)
        && (has(&squeezed, "script:") || squeezed.contains('(') || squeezed.contains('`'))
    {
        return true;
    }
    let b = flat.as_bytes();
    for i in positions(&flat, "<") {
        // `<` then optional `/`, then a tag name.
        let mut j = i + 1;
        while j < b.len()
            && (b[j] == b'/' || b[j] == b'!' || b[j] == b'?' || b[j] == b'%' || b[j] == b' ')
        {
            j += 1;
        }
        let start = j;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b':' || b[j] == b'-') {
            j += 1;
        }
        let name = &flat[start..j];
        // `<?xml version=..?>` declares a document; it runs nothing.
        if name == "xml" && flat[i + 1..].starts_with('?') {
            continue;
        }
        if name.is_empty() {
            if (flat[i..].starts_with("<!--") || flat[i..].starts_with("<![cdata["))
                && flat.contains("-->")
                && flat.contains('<')
                && flat[i + 4..].contains('<')
            {
                return true;
            }
            continue;
        }
        let bare = name.rsplit(':').next().unwrap_or(name);
        let rest = &flat[j..];
        // `<b>`, `<div>`, `<a href=/x>` are ordinary markup; a tag that runs script or
        // embeds a document is not.
        if DANGEROUS_TAGS.contains(&bare) {
            return true;
        }
        // Any tag with an event handler, e.g. `<x onmouseover=...>`.
        if has_handler(rest) {
            return true;
        }
    }
    // Markup with a style attribute whose CSS does more than set properties.
    if flat.contains("style") && flat.contains('<') && has_style_attack(&decoded.to_lowercase()) {
        return true;
    }
    // Breaking out of an attribute: `" onfocus=alert(1) autofocus="`.
    if (flat.contains('"') || flat.contains('\'')) && has_handler(&flat) {
        return true;
    }
    false
}

/// A `style` attribute inside a tag whose value holds what inline declarations
/// (`color: red; margin: 0 4px`) never need and CSS attacks do: escapes (`\\6a`), block
/// or selector punctuation that ends the declaration list (`}`, `{`, `[`), comments,
/// resource loads and script hooks (`url(`, `@import`, `expression(`), markup, or a
/// line break that ends a CSS string early. Like libinjection, which treats any style
/// attribute as script, but leaving the plain declarations rich text carries.
fn has_style_attack(s: &str) -> bool {
    let b = s.as_bytes();
    for i in positions(s, "style") {
        let before = if i > 0 { b[i - 1] } else { b'<' };
        if !(before.is_ascii_whitespace() || matches!(before, b'/' | b'"' | b'\'')) {
            continue;
        }
        if !s[..i].contains('<') {
            continue;
        }
        let mut j = i + 5;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if b.get(j) != Some(&b'=') {
            continue;
        }
        j += 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        let value = match b.get(j) {
            Some(&q @ (b'"' | b'\'')) => {
                let v = &s[j + 1..];
                &v[..v.find(q as char).unwrap_or(v.len())]
            }
            _ => {
                let v = &s[j..];
                &v[..v
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .unwrap_or(v.len())]
            }
        };
        if value
            .bytes()
            .any(|c| matches!(c, b'\\' | b'{' | b'}' | b'[' | b'<' | b'\n' | b'\r' | 0x0c))
            || ["url(", "@import", "expression", "/*", "behavior", "binding"]
                .iter()
                .any(|m| value.contains(m))
        {
            return true;
        }
    }
    false
}

/// Whether `needle`, found in `hay` at `at`, is not glued to a preceding name character
/// (for needles that start with a letter): `cheval(`, `1alert(`, `_alert(` and
/// `оalert(` (Cyrillic o) name other functions, or none.
fn word_starts_at(hay: &str, needle: &str, at: usize) -> bool {
    let starts_alpha = needle
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic());
    !starts_alpha || !hay[..at].chars().next_back().is_some_and(is_name_char)
}

/// A character script reads as part of a name: a letter of any script, a digit, `_`, `$`.
fn is_name_char(c: char) -> bool {
    c.is_alphabetic() || c.is_ascii_digit() || c == '_' || c == '$'
}

/// `on<letters>` followed by optional space and `=`, not part of a longer word.
fn has_handler(s: &str) -> bool {
    let b = s.as_bytes();
    for i in positions(s, "on") {
        if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
            continue;
        }
        let mut j = i + 2;
        let start = j;
        while j < b.len() && b[j].is_ascii_alphabetic() {
            j += 1;
        }
        if j - start < 3 {
            continue;
        }
        while j < b.len() && (b[j] == b' ' || b[j] == b'/') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' {
            let name = &s[start..j];
            // `online=1`, `onion=2` are ordinary parameter names.
            if EVENT_PREFIXES.iter().any(|p| name.starts_with(p)) {
                return true;
            }
        }
    }
    false
}

/// Starts of DOM event names (`onerror`, `onmouseover`, `onanimationstart`, ...).
const EVENT_PREFIXES: &[&str] = &[
    "error",
    "load",
    "mouse",
    "click",
    "dblclick",
    "focus",
    "blur",
    "key",
    "change",
    "submit",
    "reset",
    "select",
    "scroll",
    "resize",
    "drag",
    "drop",
    "copy",
    "cut",
    "paste",
    "input",
    "invalid",
    "toggle",
    "wheel",
    "pointer",
    "touch",
    "animation",
    "transition",
    "begin",
    "end",
    "repeat",
    "abort",
    "before",
    "after",
    "unload",
    "hashchange",
    "message",
    "pageshow",
    "pagehide",
    "popstate",
    "storage",
    "show",
    "play",
    "pause",
    "ended",
    "volume",
    "seek",
    "time",
    "canplay",
    "durationchange",
    "emptied",
    "stalled",
    "suspend",
    "waiting",
    "progress",
    "ratechange",
    "readystatechange",
    "context",
    "auxclick",
    "search",
    "start",
    "finish",
    "bounce",
    "filterchange",
    "activate",
    "deactivate",
    "help",
    "mousewheel",
    "move",
    "open",
    "close",
    "cancel",
    "formdata",
    "fullscreen",
    "online",
    "offline",
    "propertychange",
    "securitypolicyviolation",
    "slotchange",
    "visibilitychange",
    "webkit",
    "zoom",
    "data",
    "row",
    "cell",
    "lose",
    "errorupdate",
    "exit",
    "control",
    "print",
];

/// `\u0061` and `\x61` escapes, as a script would read them.
fn unescape_js(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            // Byte slices: the digits may not end on a character boundary.
            let (len, digits) = match b[i + 1] {
                b'u' => (6, b.get(i + 2..i + 6)),
                b'x' => (4, b.get(i + 2..i + 4)),
                _ => (0, None),
            };
            if let Some(c) = digits
                .and_then(crate::transform::hex_number)
                .and_then(char::from_u32)
            {
                out.extend(c.to_lowercase());
                i += len;
                continue;
            }
        }
        let c = s[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::is_xss;

    #[test]
    fn escapes_next_to_non_ascii_text_are_read_without_panicking() {
        assert!(!is_xss("\\xa\u{e9} \\u00\u{e9}"));
        assert!(is_xss("\u{e9} \\x61lert(1)"));
    }

    #[test]
    fn attacks() {
        for p in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "\" onmouseover=\"alert(1)",
            "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
            "<svg/onload=prompt(1)>",
            "<iframe src=//evil>",
            "javascript:alert(document.cookie)",
            "<img src=x onerror=alert (1)>",
            "a=1;alert (1)",
            "<svg><script>alert(1)</script></svg>",
            "<div style=\"font-family:foo}color=red;\">x</div>",
            "<div style=\"font-family:'foo&#10;;color:red;';\">",
            "<div style=content:url(//evil/x)></div>",
            "<DIV STYLE=\"background-image:\\0075\\0072\\006C\\0028'\\006a\">",
        ] {
            assert!(is_xss(p), "missed {p}");
        }
    }

    #[test]
    fn ordinary_text() {
        for p in [
            "a < b and c > d",
            "<b>bold</b>",
            "online=1",
            "tom & jerry",
            "5 <3",
            "1alert(1)",
            "cheval($foo)",
            "java script: the language",
            "<?xml version=\"1.0\"?><svg viewBox=\"0 0 1 1\"></svg>",
            "<p style=\"color: red; margin: 0 4px\">hi</p>",
            "the style = casual <b>",
        ] {
            assert!(!is_xss(p), "false positive on {p}");
        }
    }
}
