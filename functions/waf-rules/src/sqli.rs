//! SQL injection detection: the value is tokenised as SQL would read it, three times —
//! as written, as if it sat inside a single-quoted and inside a double-quoted literal —
//! and each token stream is checked for the shapes injections need (a literal closed
//! then continued with an operator, a boolean tail after a number, UNION SELECT, stacked
//! statements, time and file functions). Looking at tokens rather than words is what
//! lets "select your size from the list" through while `1'/**/oR/**/1=1#` is caught.

use crate::text::{after_last, ascii_lowercase, before_first, find_byte, has, positions};

/// Token classes, in the spirit of libinjection's fingerprints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// A literal; `closed` is false when the input ended inside it.
    Str {
        closed: bool,
    },
    Num,
    /// An identifier that is not a keyword.
    Word,
    /// A keyword (see [`keyword`]).
    Kw(Kw),
    /// `and`, `or`, `xor`, `&&`, `||`.
    Logic,
    /// Comparison and arithmetic operators (the first byte of the operator).
    Op(u8),
    /// `=` (kept apart: tautologies need it).
    Eq,
    /// A word immediately followed by `(`.
    Func(Fun),
    LParen,
    RParen,
    Comma,
    Semi,
    Comment(Cmt),
    /// `@var`, `@@version`.
    Var,
    /// A literal the statement cannot end (see [`tokenize_quoted`]).
    Dangling,
    /// A stray `.`: not SQL (and, before a name, not SQL context either).
    Junk,
}

/// Comment kinds: an injection cuts the application's rest off with an empty `--` or
/// `#` (or any `/* */`); a line comment with words after it is how prose uses `--`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmt {
    Block,
    /// `--` with nothing but white space, `-` or `+` after it on its line.
    Dash,
    /// `#` likewise.
    Hash,
    /// `--` or `#` followed by text.
    Text,
    /// `-- ` and a space before the text, or `#` and text: the comments MySQL reads
    /// (`-- -a`, `#aa`); `--x` is two minus signs there.
    Note,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kw {
    Select,
    Union,
    From,
    Where,
    Insert,
    Update,
    Delete,
    Drop,
    Exec,
    Declare,
    Waitfor,
    Order,
    Group,
    Having,
    Limit,
    Into,
    Outfile,
    Like,
    Not,
    Null,
    True,
    Case,
    Is,
    In,
    Between,
    Create,
    Alter,
    Truncate,
    Shutdown,
    Table,
    Procedure,
    /// MySQL's `binary` cast, a prefix operator.
    Binary,
    /// `load data|xml ... infile`.
    Load,
    /// `mod`, arithmetic spelled as a word.
    Mod,
    /// `rlike`, `regexp`, `sounds [like]`: comparisons like [`Kw::Like`] that are no
    /// English words.
    Regexp,
    Other,
}

/// Function names worth knowing: the dangerous ones count as evidence on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fun {
    /// Time, file, error-based and system functions: sleep, benchmark, load_file, ...
    Dangerous,
    /// String and conversion functions common in injections: char, concat, ascii, ...
    Sql,
    /// Any other name followed by `(`.
    Other,
}

fn keyword(w: &str) -> Option<Tok> {
    use Kw::*;
    let k = match w {
        "select" => Select,
        "union" => Union,
        "from" => From,
        "where" => Where,
        "insert" => Insert,
        "update" => Update,
        "delete" => Delete,
        "drop" => Drop,
        "exec" | "execute" => Exec,
        "declare" => Declare,
        "waitfor" => Waitfor,
        "order" => Order,
        "group" => Group,
        "having" => Having,
        "limit" | "offset" => Limit,
        "into" => Into,
        "outfile" | "dumpfile" | "infile" => Outfile,
        "like" | "glob" => Like,
        "rlike" | "regexp" | "sounds" => Regexp,
        "not" => Not,
        "null" => Null,
        "true" | "false" => True,
        "case" => Case,
        "is" => Is,
        "in" => In,
        "between" => Between,
        "create" => Create,
        "alter" => Alter,
        "truncate" => Truncate,
        "shutdown" => Shutdown,
        "table" | "database" | "schema" => Table,
        "procedure" => Procedure,
        "all" | "distinct" | "by" | "values" | "set" | "as" | "top" | "asc" | "desc"
        | "collate" | "escape" | "delay" | "with" | "join" | "on" | "data" | "when" | "then"
        | "else" | "end" | "low_priority" | "high_priority" | "delayed" | "concurrent" => Other,
        "binary" => Binary,
        "load" => Load,
        "mod" => Mod,
        // `eqv` is MS Access' logical equivalence.
        "and" | "or" | "xor" | "div" | "eqv" => return Some(Tok::Logic),
        _ => return None,
    };
    Some(Tok::Kw(k))
}

fn function(w: &str) -> Fun {
    match w {
        // Names that are SQL and nothing else: a call of one is evidence on its own.
        "sleep" | "benchmark" | "pg_sleep" | "load_file" | "extractvalue" | "updatexml"
        | "sys_eval" | "sys_exec" | "xp_cmdshell" | "utl_inaddr" | "utl_http" | "dbms_pipe"
        | "receive_message" | "get_host_address" | "randomblob" | "name_const"
        | "procedure_analyse" | "pg_read_file" | "lo_import" | "openrowset" | "opendatasource"
        | "is_srvrolemember" | "load_extension" | "dbms_xmlgen" | "xmltype" | "ctxsys"
        | "gtid_subset" | "st_latfromgeohash" | "query_to_xml" | "make_set"
        | "geometrycollection" | "multipoint" | "polygon" | "linestring" | "sqlite_version"
        | "waitfor" | "db_name" | "user_name" | "dbms_lock" | "concat" | "concat_ws"
        | "group_concat" | "substring" | "substr" | "unhex" | "hex" | "strcmp" | "rtrim"
        | "ltrim" | "current_user" | "session_user" | "system_user" | "database"
        | "schema_name" | "find_in_set" | "ascii" | "nchar" | "char_length" | "bit_length"
        | "substring_index" | "from_base64" | "to_base64" | "string_agg" | "listagg" | "xmlagg"
        | "to_char" | "instr" | "locate" | "soundex" | "conv" | "ord" | "chr" | "char"
        | "sysdate" | "md5" | "sha1" | "isnull" | "ifnull" | "nvl" | "nullif" | "iif" | "rand"
        | "pow" | "sin" | "cos" | "elt" | "json_keys" | "json_extract" | "mid" | "unicode"
        | "quotename" | "lpad" | "rpad" | "char_to_num" | "pi" | "now" | "convert_from"
        | "compress" | "uncompress" | "strcomp" | "eqv" | "connection_id" | "last_insert_id"
        | "found_rows" | "row_count" | "utc_date" | "utc_time" | "utc_timestamp" | "curdate"
        | "curtime" | "localtimestamp" => Fun::Dangerous,
        // Names that are also words: a call counts when it has an argument.
        "if" | "left" | "right" | "replace" | "count" | "min" | "max" | "sum" | "avg" | "round"
        | "floor" | "abs" | "space" | "repeat" | "position" | "length" | "len" | "row" | "exp"
        | "lower" | "upper" | "reverse" | "cast" | "convert" | "exists" | "decode" | "encode"
        | "schema" | "coalesce" | "uuid" | "bin" | "cot" | "user" | "version" => Fun::Sql,
        _ => Fun::Other,
    }
}

/// Tokenises `s` (already decoded and lower-cased by the caller) as SQL text.
pub fn tokenize(s: &str) -> Vec<Tok> {
    tokenize_quoted(s, 0)
}

/// Tokenises `s` as it reads after the application's opening quote `ctx` (0: none) and
/// before its closing one. A literal only that quote can end: one the input leaves open
/// with the other quote never ends, and one the input closes on its last byte is
/// re-opened by the application's quote (`''` is an escaped quote): both are
/// [`Tok::Dangling`], which the checks that need a statement to run do not accept.
pub fn tokenize_quoted(s: &str, ctx: u8) -> Vec<Tok> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() && out.len() < 256 {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0 | 0xa0 => i += 1,
            b'\'' | b'"' | b'`' => {
                // Doubled quotes and backslash escapes stay inside the literal.
                let q = c;
                let mut j = i + 1;
                let mut closed = false;
                while j < b.len() {
                    if b[j] == b'\\' && q != b'`' {
                        j += 2;
                        continue;
                    }
                    if b[j] == q {
                        if j + 1 < b.len() && b[j + 1] == q {
                            j += 2;
                            continue;
                        }
                        closed = true;
                        break;
                    }
                    j += 1;
                }
                let ends = if closed {
                    j + 1 < b.len() || q != ctx
                } else {
                    q == ctx
                };
                // A back-quoted name is an identifier, not a value.
                out.push(if q == b'`' {
                    Tok::Word
                } else if ctx != 0 && !ends {
                    Tok::Dangling
                } else {
                    Tok::Str { closed }
                });
                i = j + 1;
            }
            b'0'..=b'9' => {
                let mut j = i + 1;
                if c == b'0' && j < b.len() && (b[j] == b'x' || b[j] == b'b') {
                    j += 1;
                    while j < b.len() && b[j].is_ascii_hexdigit() {
                        j += 1;
                    }
                } else {
                    while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.' || b[j] == b'e') {
                        j += 1;
                    }
                }
                // `1abc` is a word in most dialects; `1union` splits (MySQL reads it so),
                // and so does Oracle's `1dunion` (`1d`, `1f`: binary double and float).
                if j < b.len() && matches!(b[j], b'd' | b'f') {
                    let k = j
                        + 1
                        + b[j + 1..]
                            .iter()
                            .take_while(|x| x.is_ascii_alphabetic())
                            .count();
                    if k > j + 1 && keyword(&s[j + 1..k]).is_some() {
                        j += 1;
                    }
                }
                out.push(Tok::Num);
                i = j;
            }
            b'.' if i + 1 < b.len() && b[i + 1].is_ascii_digit() => {
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                out.push(Tok::Num);
                i = j;
            }
            b'-' | b'#' if c == b'#' || b.get(i + 1) == Some(&b'-') => {
                let start = i + if c == b'#' { 1 } else { 2 };
                let end = b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| i + p);
                let cut = b[start..end]
                    .iter()
                    .all(|x| x.is_ascii_whitespace() || matches!(x, b'-' | b'+'));
                let spaced = c == b'#' || b.get(start).is_some_and(u8::is_ascii_whitespace);
                out.push(Tok::Comment(match (cut, c) {
                    (false, _) if spaced => Cmt::Note,
                    (false, _) => Cmt::Text,
                    (true, b'#') => Cmt::Hash,
                    (true, _) => Cmt::Dash,
                }));
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // MySQL runs the body of `/*! ... */`: read it as code.
                if b.get(i + 2) == Some(&b'!') {
                    i += 3;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    continue;
                }
                // One never closed swallows the rest like `--`.
                let (end, cmt) = s[i + 2..]
                    .find("*/")
                    .map_or((b.len(), Cmt::Dash), |p| (i + 2 + p + 2, Cmt::Block));
                out.push(Tok::Comment(cmt));
                i = end;
            }
            b'*' if b.get(i + 1) == Some(&b'/') => i += 2, // end of a `/*!` block
            b'(' | b'{' => {
                out.push(Tok::LParen);
                i += 1;
            }
            b')' | b'}' => {
                out.push(Tok::RParen);
                i += 1;
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            b';' => {
                out.push(Tok::Semi);
                i += 1;
            }
            b'@' => {
                let mut j = i + 1;
                while j < b.len() && (b[j] == b'@' || b[j].is_ascii_alphanumeric() || b[j] == b'_')
                {
                    j += 1;
                }
                out.push(Tok::Var);
                i = j;
            }
            b'&' if b.get(i + 1) == Some(&b'&') => {
                out.push(Tok::Logic);
                i += 2;
            }
            b'|' if b.get(i + 1) == Some(&b'|') => {
                out.push(Tok::Logic);
                i += 2;
            }
            b'=' => {
                out.push(Tok::Eq);
                i += 1;
                if b.get(i) == Some(&b'=') {
                    i += 1;
                }
            }
            b'<' | b'>' | b'!' => {
                // `!=`, `<>`, `<=>`, `<=`, `>=` compare like `=`; a lone `!` (negation,
                // `!!'0`), `<`, `>` or a shift is an operator.
                let rest = &b[i..];
                let (len, tok) = if rest.starts_with(b"<=>") {
                    (3, Tok::Eq)
                } else if rest.len() >= 2
                    && matches!(&rest[..2], b"!=" | b"<>" | b"<=" | b">=" | b"!<" | b"!>")
                {
                    (2, Tok::Eq)
                } else if rest.len() >= 2 && matches!(&rest[..2], b"<<" | b">>") {
                    (2, Tok::Op(b'<'))
                } else {
                    (1, Tok::Op(c))
                };
                out.push(tok);
                i += len;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'|' | b'&' | b'~' | b':' => {
                out.push(Tok::Op(c));
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 => {
                let mut j = i + 1;
                while j < b.len()
                    && (b[j].is_ascii_alphanumeric()
                        || b[j] == b'_'
                        || b[j] == b'$'
                        || b[j] == b'.'
                        || b[j] >= 0x80)
                {
                    // `select.2`: a keyword, then the number `.2` (no name has a keyword
                    // as its qualifier).
                    if b[j] == b'.'
                        && b.get(j + 1).is_some_and(u8::is_ascii_digit)
                        && keyword(&s[i..j]).is_some()
                    {
                        break;
                    }
                    j += 1;
                }
                let w = &s[i..j];
                // `dbms_pipe.receive_message(` and `information_schema.tables`: the first part names it.
                let head = before_first(w, b'.');
                let mut k = j;
                while k < b.len() && (b[k] == b' ' || b[k] == b'\t') {
                    k += 1;
                }
                let tok = if let Some(t) = keyword(w) {
                    // `char(`, `if(`: keywords and names may also be calls.
                    if k < b.len()
                        && b[k] == b'('
                        && matches!(
                            w,
                            "database" | "schema" | "if" | "left" | "right" | "replace" | "insert"
                        )
                    {
                        Tok::Func(function(w))
                    } else {
                        t
                    }
                } else if k < b.len() && b[k] == b'(' {
                    Tok::Func(function(head).max_with(function(after_last(w, b"."))))
                } else if head.starts_with("sp_")
                    || head.starts_with("xp_")
                    || matches!(
                        head,
                        "information_schema"
                            | "sysobjects"
                            | "syscolumns"
                            | "pg_catalog"
                            | "sqlite_master"
                            | "msysobjects"
                            | "all_tables"
                            | "xp_cmdshell"
                            | "sp_executesql"
                            | "sp_configure"
                            | "sp_oacreate"
                            | "master"
                    )
                    || (head == "mysql" && w.contains(".user"))
                {
                    Tok::Func(Fun::Dangerous)
                } else {
                    Tok::Word
                };
                out.push(tok);
                i = j;
            }
            // `a.b` names and `.5` were read already: a `.` left over is not SQL.
            b'.' => {
                out.push(Tok::Junk);
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

impl Fun {
    fn max_with(self, other: Fun) -> Fun {
        match (self, other) {
            (Fun::Dangerous, _) | (_, Fun::Dangerous) => Fun::Dangerous,
            (Fun::Sql, _) | (_, Fun::Sql) => Fun::Sql,
            _ => Fun::Other,
        }
    }
}

fn is_value(t: Tok) -> bool {
    matches!(
        t,
        Tok::Str { .. } | Tok::Num | Tok::Word | Tok::Var | Tok::Kw(Kw::Null | Kw::True)
    )
}

/// Whether the token stream reads as an injection.
/// `break_at`: in the quoted contexts, how many characters the literal held before the
/// input's own quote closed it (0: the input starts with the quote); `prose`: whether
/// that literal held more than one word.
/// `literal_prose`: whether any of the literals the quote context reads has more than
/// one word.
fn injection(
    t: &[Tok],
    quoted: bool,
    break_at: usize,
    prose: bool,
    literal_prose: bool,
) -> Option<u8> {
    let empty_break = break_at == 0;
    let n = t.len();
    let has = |k: Kw| t.contains(&Tok::Kw(k));
    for i in 0..n {
        let next = |d: usize| t.get(i + d).copied();
        match t[i] {
            // UNION [ALL|DISTINCT] [(] SELECT
            Tok::Kw(Kw::Union) => {
                let rest = t[i + 1..].iter().take(4);
                for x in rest {
                    match x {
                        Tok::Kw(Kw::Select) => return Some(1),
                        Tok::Kw(Kw::Other) | Tok::LParen | Tok::Comment(_) => continue,
                        _ => break,
                    }
                }
                // `-427 union *elect 1,2,3`: a number, then the numbered column list of a
                // union probe even when the select is mangled.
                if i > 0
                    && t[i - 1] == Tok::Num
                    && t[i + 1..t.len().min(i + 9)]
                        .windows(5)
                        .any(|w| w == [Tok::Num, Tok::Comma, Tok::Num, Tok::Comma, Tok::Num])
                {
                    return Some(39);
                }
                // `-1 union`, `1/**/union` at the end: cut off by the application's rest.
                if i > 0
                    && matches!(t[i - 1], Tok::Num | Tok::Comment(_))
                    && t[i + 1..].iter().all(|x| matches!(x, Tok::Comment(_)))
                {
                    return Some(26);
                }
            }
            // SELECT with a select list that is not prose: `select 1,2`, `select @@version`,
            // `select * from`, `(select ...)`.
            Tok::Kw(Kw::Select) => {
                let prev = if i > 0 { Some(t[i - 1]) } else { None };
                let after = next(1);
                // `select *` only with a FROM right after it; other operators are prose.
                let sqlish_after = matches!(
                    after,
                    Some(Tok::Num | Tok::Var | Tok::Func(_) | Tok::Str { .. } | Tok::LParen)
                ) || (matches!(after, Some(Tok::Op(_)))
                    && matches!(
                        next(2),
                        Some(Tok::Kw(Kw::From) | Tok::Num | Tok::Str { .. })
                    ));
                let sqlish_before = matches!(
                    prev,
                    Some(
                        Tok::LParen
                            | Tok::Semi
                            | Tok::Str { closed: true }
                            | Tok::Comment(_)
                            | Tok::Logic
                            | Tok::Eq
                    )
                );
                if (sqlish_after
                    && (has(Kw::From)
                        || sqlish_before
                        || t.iter()
                            .any(|x| matches!(x, Tok::Comment(_) | Tok::Func(_)))))
                    || (sqlish_before && (has(Kw::From) || t.get(i + 1).is_some()) && i > 0)
                {
                    return Some(2);
                }
                if after == Some(Tok::Word)
                    && t[i + 1..].iter().take(16).any(|x| *x == Tok::Kw(Kw::From))
                    && (sqlish_before
                        || t.iter().any(|x| matches!(x, Tok::Comment(_) | Tok::Comma)))
                {
                    return Some(3);
                }
            }
            // Stacked statements.
            Tok::Semi => match next(1) {
                Some(Tok::Kw(Kw::Drop | Kw::Truncate | Kw::Alter | Kw::Create)) => {
                    if matches!(next(2), Some(Tok::Kw(Kw::Table) | Tok::Word)) {
                        return Some(4);
                    }
                }
                Some(Tok::Kw(Kw::Exec)) if exec_call(&t[i + 2..]) => return Some(5),
                Some(Tok::Kw(Kw::Declare | Kw::Shutdown | Kw::Waitfor)) => return Some(5),
                Some(Tok::Kw(Kw::Insert)) if next(2) == Some(Tok::Kw(Kw::Into)) => return Some(6),
                // `; delete [low_priority] from`
                Some(Tok::Kw(Kw::Delete))
                    if t[i + 2..]
                        .iter()
                        .find(|x| **x != Tok::Kw(Kw::Other))
                        .is_some_and(|x| *x == Tok::Kw(Kw::From)) =>
                {
                    return Some(7);
                }
                Some(Tok::Kw(Kw::Update))
                    if t[i + 2..].iter().take(3).any(|x| *x == Tok::Kw(Kw::Other)) =>
                {
                    return Some(8);
                }
                Some(Tok::Kw(Kw::Select)) if n > i + 2 => return Some(9),
                Some(Tok::Func(Fun::Dangerous)) => return Some(10),
                _ => {}
            },
            Tok::Kw(Kw::Waitfor)
                if next(1) == Some(Tok::Kw(Kw::Other))
                    && matches!(next(2), Some(Tok::Str { .. } | Tok::Dangling)) =>
            {
                return Some(11);
            }
            Tok::Kw(Kw::Into) if next(1) == Some(Tok::Kw(Kw::Outfile)) => return Some(12),
            // `load data [local] infile`, `load xml concurrent infile`: reads a server file.
            Tok::Kw(Kw::Load)
                if matches!(next(1), Some(Tok::Kw(Kw::Other) | Tok::Word))
                    && t[i + 2..]
                        .iter()
                        .take(3)
                        .any(|x| *x == Tok::Kw(Kw::Outfile)) =>
            {
                return Some(12);
            }
            // `having 1=1`, `case .. when .. then .. end`
            Tok::Kw(Kw::Having)
                if matches!(
                    next(1),
                    Some(Tok::Num | Tok::LParen | Tok::Var | Tok::Func(_))
                ) && tail_is_expression(&t[i + 1..]) =>
            {
                return Some(32);
            }
            Tok::Kw(Kw::Case)
                if t[i + 1..]
                    .iter()
                    .filter(|x| **x == Tok::Kw(Kw::Other))
                    .count()
                    >= 3 =>
            {
                return Some(25);
            }
            // `version() limit 1,1`: MySQL's offset and count closing a call or comment.
            Tok::Kw(Kw::Limit)
                if i > 0
                    && matches!(t[i - 1], Tok::RParen | Tok::Comment(_))
                    && next(1) == Some(Tok::Num)
                    && next(2) == Some(Tok::Comma)
                    && next(3) == Some(Tok::Num)
                    && i + 4 == n =>
            {
                return Some(40);
            }
            // `1) from users where`: a parenthesis the value never opened, closed, and
            // the statement continued with its table and condition.
            Tok::RParen
                if next(1) == Some(Tok::Kw(Kw::From))
                    && next(2) == Some(Tok::Word)
                    && next(3) == Some(Tok::Kw(Kw::Where))
                    && t[..=i].iter().filter(|x| **x == Tok::RParen).count()
                        > t[..i].iter().filter(|x| **x == Tok::LParen).count() =>
            {
                return Some(41);
            }
            // `@@version--`
            Tok::Var if i == 0 && matches!(next(1), Some(Tok::Comment(_))) => return Some(27),
            // `order by 1,2,3`
            Tok::Kw(Kw::Order)
                if next(1) == Some(Tok::Kw(Kw::Other))
                    && next(2) == Some(Tok::Num)
                    && next(3) == Some(Tok::Comma)
                    && next(4) == Some(Tok::Num)
                    && next(5) == Some(Tok::Comma) =>
            {
                return Some(28);
            }
            // `declare @x`, `execute immediate '...'`
            Tok::Kw(Kw::Declare) if next(1) == Some(Tok::Var) => return Some(22),
            Tok::Kw(Kw::Exec)
                if matches!(next(1), Some(Tok::Word))
                    && matches!(next(2), Some(Tok::Str { .. })) =>
            {
                return Some(23);
            }
            Tok::Kw(Kw::Exec)
                if matches!(next(1), Some(Tok::Func(Fun::Dangerous)))
                    || (i > 0 && t[i - 1] == Tok::Semi && exec_call(&t[i + 1..])) =>
            {
                return Some(13);
            }
            // A call of an SQL-only function (`sleep(`, `concat(`), or a catalog name;
            // prose puts a word before such names ("I sleep (well)").
            Tok::Func(Fun::Dangerous)
                if (next(1) == Some(Tok::LParen)
                    || next(1).is_none()
                    || !matches!(next(1), Some(Tok::Word)))
                    && (i == 0 || !matches!(t[i - 1], Tok::Word | Tok::Num | Tok::Junk))
                    && (next(1) == Some(Tok::LParen)
                        || n <= 3
                        || t.iter().any(|x| matches!(x, Tok::Kw(_) | Tok::Comment(_)))) =>
            {
                return Some(14);
            }
            // A call of a function whose name is also a word, with an argument: `if(1=1`.
            Tok::Func(Fun::Sql)
                if matches!(
                    next(2),
                    Some(
                        Tok::Num | Tok::Kw(Kw::Select) | Tok::Str { .. } | Tok::Func(_) | Tok::Var
                    )
                ) && (i == 0 || !matches!(t[i - 1], Tok::Word | Tok::Junk))
                    && matches!(
                        t.get(i + 3),
                        Some(Tok::Eq | Tok::Op(_) | Tok::Comma | Tok::RParen)
                    ) =>
            {
                return Some(14);
            }
            Tok::Var
                if i > 0
                    && matches!(
                        t[i - 1],
                        Tok::Kw(Kw::Select) | Tok::Logic | Tok::Comma | Tok::LParen
                    ) =>
            {
                return Some(15);
            }
            _ => {}
        }
    }
    // A literal (or a number) closed and continued as SQL. In the quoted contexts the
    // first token is the literal the input was inside.
    if quoted && n >= 2 && t[0] == (Tok::Str { closed: true }) {
        let mut j = 1;
        while j < n && t[j] == Tok::RParen {
            j += 1;
        }
        let tail = &t[j..];
        let later_cut = tail
            .iter()
            .skip(1)
            .any(|x| matches!(x, Tok::Comment(_) | Tok::Logic | Tok::Semi));
        // The application's closing quote follows the input: the statement runs only if
        // that quote ends a literal the input left open, or a comment swallows it.
        let completes = matches!(t.last(), Some(Tok::Str { closed: false } | Tok::Comment(_)));
        // The literal continued as an expression the application's quote completes
        // (`aa'^0+0+1-1=(0)-- -a`, `1' or '1' xor '0`, `abc' = !!'0`). A quoted single
        // keyword after a long word (`browning "like"`) or on its own (`"is" stamp`) is
        // how searches quote terms; quoted phrases or punctuation in prose (`ie, "&&"
        // instead of "||".`, `"-f -" will work`) put words in a literal, or use names.
        if !literal_prose {
            let u = strip_block(t);
            if let Some(e) = parse_expr(&u, 0)
                && e.ops >= 1
                && (e.ops >= 2 || e.symbolic || (break_at <= 3 && !empty_break))
                && (!empty_break || e.words == 0)
            {
                let end = u[e.end..].iter().take_while(|x| **x == Tok::RParen).count() + e.end;
                let cut = u[end..]
                    .first()
                    .is_some_and(|x| matches!(x, Tok::Comment(c) if *c != Cmt::Text))
                    && u[end..]
                        .iter()
                        .all(|x| matches!(x, Tok::Comment(_) | Tok::Semi));
                if cut || (end == u.len() && u.last() == Some(&Tok::Str { closed: false })) {
                    return Some(33);
                }
            }
        }
        if let Some(&after) = tail.first() {
            let second = tail.get(1).copied();
            match after {
                // `admin'--`; an empty literal (`"#2"`) cut off by a comment is just text,
                // and so is `--` or `#` with words after it (`7" #2 needle`). A bare `#`
                // after a phrase (`soap 1 '#`) is punctuation; after one word it is the
                // MySQL login bypass `admin'#`.
                // `'--` on its own: the quote closed and the rest cut off.
                Tok::Comment(Cmt::Dash | Cmt::Block) if empty_break && tail.len() == 1 => {
                    return Some(16);
                }
                Tok::Comment(c)
                    if !empty_break
                        && match c {
                            Cmt::Block | Cmt::Dash => true,
                            Cmt::Hash => !prose,
                            Cmt::Text | Cmt::Note => false,
                        } =>
                {
                    return Some(16);
                }
                Tok::Semi
                    if (tail.len() >= 2
                        && matches!(second, Some(Tok::Kw(_) | Tok::Func(_) | Tok::Comment(_))))
                        || (tail.len() == 1 && !empty_break) =>
                {
                    return Some(17);
                }
                // `1'; anything: goto anything -- -a`: a stacked statement whose rest a
                // comment MySQL reads cuts off.
                Tok::Semi
                    if !prose
                        && !empty_break
                        && matches!(t.last(), Some(Tok::Comment(Cmt::Dash | Cmt::Note))) =>
                {
                    return Some(42);
                }
                Tok::Semi
                    if tail.iter().any(|x| {
                        matches!(
                            x,
                            Tok::Kw(
                                Kw::Drop
                                    | Kw::Shutdown
                                    | Kw::Exec
                                    | Kw::Declare
                                    | Kw::Waitfor
                                    | Kw::Select
                                    | Kw::Insert
                                    | Kw::Delete
                                    | Kw::Update
                                    | Kw::Truncate
                            )
                        )
                    }) =>
                {
                    return Some(29);
                }
                Tok::Logic => {
                    if tail_is_expression(&tail[1..]) {
                        return Some(18);
                    }
                    // `' or match .. against (..); -- -a`: a condition, its statement
                    // ended and the application's rest commented out.
                    if !prose
                        && n > 3
                        && t[n - 2] == Tok::Semi
                        && matches!(t[n - 1], Tok::Comment(c) if c != Cmt::Text)
                    {
                        return Some(38);
                    }
                    // `' or '`, `a' && 'b`: the literal re-opened for the application's
                    // own closing quote.
                    if break_at <= 3 && tail.len() == 2 && tail[1] == (Tok::Str { closed: false }) {
                        return Some(30);
                    }
                }
                Tok::Op(_) | Tok::Eq | Tok::Kw(Kw::Like | Kw::Regexp)
                    if !empty_break
                        && break_at <= 3
                        && tail.len() == 2
                        && tail[1] == (Tok::Str { closed: false }) =>
                {
                    return Some(31);
                }
                Tok::Op(_) | Tok::Eq
                    // `'||'`, `'-sleep(1)-'`, `' = 'x`, `'=0--`; arithmetic on literals is
                    // only evidence in a statement that can run (`'-"8 track" player` is
                    // not one).
                    if completes
                        && (matches!(
                            second,
                            Some(
                                Tok::Str { .. }
                                    | Tok::Func(Fun::Dangerous | Fun::Sql)
                                    | Tok::Kw(Kw::Select)
                                    | Tok::Var
                                    | Tok::LParen
                            )
                        ) || (after == Tok::Eq
                            && matches!(
                                second,
                                Some(Tok::Num | Tok::Word | Tok::Kw(Kw::True | Kw::Null))
                            )
                            && later_cut)
                            || (second == Some(Tok::Word)
                                && tail.get(2) == Some(&Tok::Eq)
                                && matches!(tail.get(3), Some(Tok::Str { .. }))))
                    => {
                        return Some(19);
                    }
                Tok::Kw(k) => {
                    let ok = match k {
                        Kw::Union => tail[1..].iter().take(3).any(|x| *x == Tok::Kw(Kw::Select)),
                        Kw::Order | Kw::Group => {
                            second == Some(Tok::Kw(Kw::Other)) && tail.len() >= 3
                        }
                        Kw::Having | Kw::Where => tail_is_expression(&tail[1..]),
                        Kw::Into => matches!(second, Some(Tok::Kw(Kw::Outfile) | Tok::Var)),
                        Kw::Procedure => matches!(second, Some(Tok::Func(_))),
                        Kw::Limit => second == Some(Tok::Num),
                        Kw::Like | Kw::Regexp => matches!(second, Some(Tok::Str { .. } | Tok::Num)) && later_cut,
                        Kw::Is => {
                            matches!(second, Some(Tok::Kw(Kw::Null | Kw::Not | Kw::True)))
                                && later_cut
                        }
                        Kw::In => second == Some(Tok::LParen) && later_cut,
                        Kw::Between => {
                            matches!(second, Some(Tok::Num | Tok::Str { .. }))
                                && tail.get(2) == Some(&Tok::Logic)
                        }
                        _ => false,
                    };
                    if ok {
                        return Some(20);
                    }
                }
                Tok::Comma
                    if matches!(
                        second,
                        Some(
                            Tok::Func(Fun::Dangerous | Fun::Sql)
                                | Tok::Kw(Kw::Select)
                                | Tok::LParen
                        )
                    ) =>
                {
                    return Some(21);
                }
                _ => {}
            }
        }
    }
    // A number (or word) followed by a boolean tail: `1 and 1=1`, `1) or sleep(5)#`,
    // `x' ...` is handled above; here the value is not in a literal.
    if !quoted && let Some(k) = unquoted_expression(t) {
        return Some(k);
    }
    if !quoted && n >= 3 {
        let stripped = strip_block(t);
        let t = &stripped[..];
        let lead = t
            .iter()
            .take_while(|x| matches!(x, Tok::Op(_) | Tok::LParen))
            .count();
        let t = &t[lead..];
        let n = t.len();
        let mut j = 0;
        if n >= 3 && matches!(t[0], Tok::Num | Tok::Word | Tok::Var) {
            j = 1;
            while j < n && t[j] == Tok::RParen {
                j += 1;
            }
            if j < n
                && t[j] == Tok::Logic
                && tail_is_expression(&t[j + 1..])
                && (t[0] == Tok::Num
                    || j > 1
                    || t[j + 1..]
                        .iter()
                        .any(|x| matches!(x, Tok::Comment(_) | Tok::Func(_))))
            {
                return Some(22);
            }
            if j < n
                && matches!(
                    t[j],
                    Tok::Kw(Kw::Order | Kw::Group | Kw::Having | Kw::Procedure | Kw::Limit)
                )
                && t[0] == Tok::Num
                && t[j + 1..].iter().any(|x| matches!(x, Tok::Comment(_)))
            {
                return Some(23);
            }
            if t[0] == Tok::Num && j < n && matches!(t[j], Tok::Comment(_)) && j > 1 {
                return Some(24);
            }
        }
        let _ = j;
    }
    // Tautologies with a comment anywhere, or a comment cutting off the query: `1 or 1=1--`.
    for w in t.windows(4) {
        if w[0] == Tok::Logic
            && is_value(w[1])
            && w[2] == Tok::Eq
            && is_value(w[3])
            && (t.iter().any(|x| matches!(x, Tok::Comment(_) | Tok::Semi))
                || quoted
                || matches!(w[1], Tok::Num | Tok::Str { .. }))
            && matches!(w[1], Tok::Num | Tok::Str { .. } | Tok::Var)
        {
            return Some(25);
        }
    }
    None
}

/// `t` without the block comments between tokens (`1/**/or/**/1=1`): SQL reads them as
/// white space. One that ends the value stays: it cuts the application's rest off.
fn strip_block(t: &[Tok]) -> std::borrow::Cow<'_, [Tok]> {
    let n = t.len();
    if !t[..n.saturating_sub(1)].contains(&Tok::Comment(Cmt::Block)) {
        return std::borrow::Cow::Borrowed(t);
    }
    t.iter()
        .enumerate()
        .filter(|&(i, x)| *x != Tok::Comment(Cmt::Block) || i + 1 == n)
        .map(|(_, x)| *x)
        .collect()
}

/// What [`parse_expr`] read.
#[derive(Debug, Default, Clone, Copy)]
struct Expr {
    /// Index of the first token after the expression.
    end: usize,
    /// Binary operators: arithmetic, comparison, logic, LIKE, IS, IN, BETWEEN.
    ops: usize,
    /// Whether one of them is a symbol (`=`, `-`, `!=`, `&&`) or a word prose does not
    /// use (`regexp`), rather than an English word (`is`, `like`, `or`).
    symbolic: bool,
    logic: usize,
    /// Comparisons of two constants or parenthesised expressions (`8=3`, `(8)=(3)`,
    /// `'a'='a'`): an application compares a column with something; an injected test
    /// compares values it chose.
    const_cmp: usize,
    /// Literal operands (numbers, strings, variables, `null`, `true`).
    values: usize,
    /// Bare names among the operands.
    words: usize,
}

/// Reads one SQL expression from `t[i..]` (block comments already removed): operands —
/// literals, names, calls, parenthesised expressions or lists, sub-selects — with prefix
/// operators (`-`, `!`, `not`, `binary`), joined by binary operators. `None` when the
/// tokens there are not one.
fn parse_expr(t: &[Tok], i: usize) -> Option<Expr> {
    let mut e = Expr::default();
    e.end = expr_at(t, i, 0, &mut e)?;
    Some(e)
}

fn expr_at(t: &[Tok], mut i: usize, depth: u8, e: &mut Expr) -> Option<usize> {
    if depth > 24 {
        return None;
    }
    // Whether the operand before a pending comparison was a constant.
    let mut cmp_left: Option<bool> = None;
    loop {
        while matches!(
            t.get(i),
            Some(Tok::Op(b'+' | b'-' | b'~' | b'!') | Tok::Kw(Kw::Not | Kw::Binary))
        ) {
            i += 1;
        }
        let constant = match *t.get(i)? {
            Tok::Num | Tok::Str { .. } | Tok::Var | Tok::Kw(Kw::Null | Kw::True) => {
                e.values += 1;
                i += 1;
                true
            }
            Tok::Word => {
                e.words += 1;
                i += 1;
                false
            }
            Tok::Func(_) => {
                i += 1;
                if t.get(i) == Some(&Tok::LParen) {
                    i = list_at(t, i + 1, depth, e)?;
                }
                false
            }
            Tok::LParen => {
                if t.get(i + 1) == Some(&Tok::Kw(Kw::Select)) {
                    // A sub-select: up to its closing parenthesis.
                    let mut d = 0usize;
                    loop {
                        match *t.get(i)? {
                            Tok::LParen => d += 1,
                            Tok::RParen => d -= 1,
                            _ => {}
                        }
                        i += 1;
                        if d == 0 {
                            break;
                        }
                    }
                } else {
                    i = list_at(t, i + 1, depth, e)?;
                }
                true
            }
            _ => return None,
        };
        if cmp_left.take() == Some(true) && constant {
            e.const_cmp += 1;
        }
        match t.get(i) {
            // (`:` is no SQL operator.)
            Some(Tok::Op(c)) if *c != b':' => {
                e.symbolic = true;
                i += 1;
            }
            Some(Tok::Eq) => {
                e.symbolic = true;
                cmp_left = Some(constant);
                i += 1;
            }
            Some(Tok::Logic) => {
                e.logic += 1;
                i += 1;
            }
            Some(Tok::Kw(Kw::Like | Kw::Regexp)) => {
                while let Some(Tok::Kw(k @ (Kw::Like | Kw::Regexp))) = t.get(i) {
                    e.symbolic |= *k == Kw::Regexp;
                    i += 1;
                }
                cmp_left = Some(constant);
            }
            Some(Tok::Kw(Kw::Not))
                if matches!(
                    t.get(i + 1),
                    Some(Tok::Kw(Kw::Like | Kw::Regexp | Kw::In | Kw::Between))
                ) =>
            {
                i += 1;
                while let Some(Tok::Kw(k @ (Kw::Like | Kw::Regexp | Kw::In | Kw::Between))) =
                    t.get(i)
                {
                    e.symbolic |= *k == Kw::Regexp;
                    i += 1;
                }
            }
            Some(Tok::Kw(Kw::Is)) => {
                i += 1;
                if t.get(i) == Some(&Tok::Kw(Kw::Not)) {
                    i += 1;
                }
                cmp_left = Some(constant);
            }
            Some(Tok::Kw(Kw::In | Kw::Between | Kw::Mod)) => i += 1,
            _ => return Some(i),
        }
        e.ops += 1;
    }
}

/// A parenthesised list after its `(`: nothing, or expressions separated by commas.
fn list_at(t: &[Tok], mut i: usize, depth: u8, e: &mut Expr) -> Option<usize> {
    if t.get(i) != Some(&Tok::RParen) {
        loop {
            i = expr_at(t, i, depth + 1, e)?;
            if t.get(i) != Some(&Tok::Comma) {
                break;
            }
            i += 1;
        }
    }
    (t.get(i) == Some(&Tok::RParen)).then_some(i + 1)
}

/// Whole values (not in a literal) that are an SQL expression and nothing else.
fn unquoted_expression(t: &[Tok]) -> Option<u8> {
    if t.len() < 2 {
        return None;
    }
    let u = strip_block(t);
    let n = u.len();
    // Closing parentheses (the application's), then only comments or `;`.
    let rest_is_cut = |mut k: usize| {
        while k < n && u[k] == Tok::RParen {
            k += 1;
        }
        u[k..]
            .iter()
            .all(|x| matches!(x, Tok::Comment(_) | Tok::Semi))
    };
    // An expression cut off by a comment: `1 --`, `1*1/*`, `((1) or (1 or 1))--`,
    // `( binary ( 'b') ) --`. It has to start as SQL operands do (a name followed by
    // `--` is prose).
    // `41/po/*` is a path: names need the company of a boolean operator.
    if u[n - 1] == Tok::Comment(Cmt::Dash)
        && matches!(u[0], Tok::Num | Tok::LParen | Tok::Kw(Kw::Binary))
        && let Some(e) = parse_expr(&u[..n - 1], 0)
        && rest_is_cut(e.end)
        && (e.words == 0 || (u[0] == Tok::Num && e.logic >= 1))
    {
        return Some(34);
    }
    // A boolean test of constants, possibly appended with its own `and`:
    // `hope and -8=3`, `~9-(2) or 1 = ~1`, `and 1=(1)`.
    let start = usize::from(u[0] == Tok::Logic);
    if u.contains(&Tok::Eq)
        && let Some(e) = parse_expr(&u, start)
        && (e.logic >= 1 || start == 1)
        && e.const_cmp >= 1
        && rest_is_cut(e.end)
    {
        return Some(35);
    }
    // `id having (1 or true)`, `3 where prod.id=3/*`: a condition appended to a value
    // (the whole value before it: in a sentence, `where` follows words).
    if n > 1
        && matches!(u[1], Tok::Kw(Kw::Having | Kw::Where))
        && matches!(u[0], Tok::Num | Tok::Word)
        && let Some(e) = parse_expr(&u, 2)
        && (e.symbolic || e.logic >= 1)
        && e.values >= 1
        && (u[0] == Tok::Num || e.words == 0)
        && rest_is_cut(e.end)
    {
        return Some(36);
    }
    // `14968 order by 5`, `17,23 order by 16`, `14 or (1) group by`: a number, then the
    // column-count probe or a condition ending in a clause.
    if u[0] == Tok::Num
        && u.iter()
            .any(|x| matches!(x, Tok::Kw(Kw::Order | Kw::Group)))
        && let Some(e) = parse_expr(&u, 0)
    {
        let mut k = e.end;
        while k + 1 < n && u[k] == Tok::Comma && u[k + 1] == Tok::Num {
            k += 2;
        }
        if k + 1 < n
            && matches!(u[k], Tok::Kw(Kw::Order | Kw::Group))
            && u[k + 1] == Tok::Kw(Kw::Other)
        {
            let by_number = u.get(k + 2) == Some(&Tok::Num)
                && u[k + 3..]
                    .iter()
                    .all(|x| matches!(x, Tok::Num | Tok::Comma | Tok::Comment(_)));
            if by_number || (e.logic >= 1 && rest_is_cut(k + 2)) {
                return Some(37);
            }
        }
    }
    None
}

/// After `exec`: what it runs (`(@s)`, `@s`, `'sql'`, `xp_cmdshell`), or a procedure
/// name and its arguments; `exec will create` is a sentence, not a call.
fn exec_call(t: &[Tok]) -> bool {
    match t.first() {
        Some(Tok::LParen | Tok::Var | Tok::Str { .. } | Tok::Dangling | Tok::Func(_)) => true,
        Some(Tok::Word) => matches!(
            t.get(1),
            None | Some(
                Tok::Semi
                    | Tok::Comment(_)
                    | Tok::Str { .. }
                    | Tok::Dangling
                    | Tok::Num
                    | Tok::Var
                    | Tok::Comma
            )
        ),
        _ => false,
    }
}

/// After `and`/`or`: a comparison, a call, a sub-select, a literal boolean.
fn tail_is_expression(t: &[Tok]) -> bool {
    let mut i = 0;
    while i < t.len()
        && matches!(
            t[i],
            Tok::LParen | Tok::Kw(Kw::Not) | Tok::Op(_) | Tok::Comment(_)
        )
    {
        i += 1;
    }
    let Some(&first) = t.get(i) else { return false };
    match first {
        Tok::Func(f) => f != Fun::Other || t.len() > i + 2,
        Tok::Kw(Kw::Select | Kw::True | Kw::Null | Kw::Case) => true,
        Tok::Kw(Kw::Exec | Kw::Waitfor) => true,
        Tok::Num | Tok::Str { .. } | Tok::Var | Tok::Word => {
            // `(1)=1`: a parenthesised operand.
            let mut k = i + 1;
            while k < t.len() && t[k] == Tok::RParen {
                k += 1;
            }
            if k > i + 1 && matches!(t.get(k), Some(Tok::Eq | Tok::Op(_))) && first != Tok::Word {
                return true;
            }
            match t.get(i + 1) {
                Some(Tok::Kw(Kw::Group | Kw::Order | Kw::Having | Kw::Limit | Kw::Union)) => {
                    first == Tok::Num
                }
                Some(
                    Tok::Eq
                    | Tok::Op(_)
                    | Tok::Kw(Kw::Like | Kw::Regexp | Kw::Is | Kw::In | Kw::Between | Kw::Not),
                ) => {
                    // `1=1`, `'a'='a`, `x like 'y'`; a bare word compared to a bare word is prose.
                    !(first == Tok::Word && matches!(t.get(i + 2), Some(Tok::Word) | None))
                }
                Some(Tok::Comment(_)) => first == Tok::Num || first == Tok::Var,
                None => first == Tok::Var,
                Some(Tok::Semi) => true,
                _ => false,
            }
        }
        _ => false,
    }
}

/// True when `value` (already URL-decoded) looks like SQL injection.
pub fn is_sqli(value: &str) -> bool {
    if value.len() < 2 {
        return false;
    }
    // NULs, NBSPs and undecodable bytes separate words for a database: `1%00union`.
    // (ASCII without NULs, the usual value, needs none of that: lower-cased as bytes, not
    // char by char.)
    let lower: String = if value.bytes().all(|b| b != 0 && b.is_ascii()) {
        ascii_lowercase(value)
    } else {
        value
            .chars()
            .map(|c| match c {
                '\0' | '\u{a0}' | '\u{fffd}' => ' ',
                c => c.to_ascii_lowercase(),
            })
            .collect()
    };
    // MySQL's executable comments exist only to smuggle SQL.
    if has(&lower, "/*!") {
        return true;
    }
    if explain(&lower).is_some() || is_nosql(&lower) || is_pg_cast(&lower) || system_var(&lower) {
        return true;
    }
    // `\x27\x6f\x72`: C-style hex escapes, which PHP's stripcslashes and some JSON and
    // CSV readers turn into the quote they spell.
    has(&lower, "\\x") && unescape_hex(&lower).is_some_and(|u| explain(&u).is_some())
}

/// `\xHH` escapes of ASCII characters decoded (lower-cased); `None` when there are none.
fn unescape_hex(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut decoded = false;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && let Some(v) = b.get(i + 2..i + 4).and_then(crate::transform::hex_number)
            && v < 0x80
        {
            out.push((v as u8).to_ascii_lowercase());
            decoded = true;
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    // Only ASCII bytes replaced ASCII escapes, so `out` is as valid UTF-8 as `s`.
    decoded.then(|| String::from_utf8(out).unwrap_or_default())
}

/// `@@version`, `print @@variable`: system variables of MySQL and SQL Server, which
/// nothing but SQL spells (`@@var@@` template placeholders and `@@ -1,2 @@` diff
/// hunks aside).
fn system_var(lower: &str) -> bool {
    let b = lower.as_bytes();
    positions(lower, "@@").any(|i| {
        let name = b[i + 2..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        name >= 3
            && b[i + 2].is_ascii_alphabetic()
            && (i == 0 || matches!(b[i - 1], b' ' | b'(' | b',' | b'=' | b'\t'))
            && !matches!(b.get(i + 2 + name), Some(b'@' | b'.' | b'-'))
    })
}

/// PostgreSQL casts (`password::int`, `'{..}'::jsonb`): error-based and JSON-operator
/// injections need them, prose and URLs never have them.
fn is_pg_cast(lower: &str) -> bool {
    const TYPES: &[&str] = &[
        "int", "integer", "bigint", "smallint", "text", "json", "jsonb", "varchar", "double",
        "numeric", "bool", "boolean", "regclass", "oid", "bytea", "char", "float",
    ];
    positions(lower, "::").any(|i| {
        let rest = &lower[i + 2..];
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        TYPES.contains(&&rest[..end])
            && i > 0
            && matches!(lower.as_bytes()[i - 1], b'\'' | b')' | b'a'..=b'z' | b'0'..=b'9' | b'_')
    })
}

/// MongoDB query operators smuggled in as values or names (`u[$ne]=1`, `{"$where": ..}`).
fn is_nosql(lower: &str) -> bool {
    const OPS: &[&str] = &[
        "$where",
        "$ne",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$regex",
        "$exists",
        "$elemmatch",
        "$text",
        "$nin",
        "$in",
        "$or",
        "$and",
        "$expr",
        "$function",
        "$accumulator",
    ];
    positions(lower, "$").any(|i| {
        let rest = &lower[i..];
        let end = rest[1..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(rest.len(), |p| p + 1);
        let before = lower[..i].chars().next_back();
        OPS.contains(&&rest[..end]) && matches!(before, None | Some('[' | '"' | '\'' | '{' | ' '))
    })
}

/// Which check fired (a number, for debugging) and in which context (`' '`, `'`, `"`).
pub fn explain(lower: &str) -> Option<(char, u8)> {
    if let Some(n) = injection(&tokenize(lower), false, 0, false, false) {
        return Some((' ', n));
    }
    for q in ['\'', '"'] {
        if let Some(break_at) = find_byte(lower.as_bytes(), 0, q as u8) {
            let mut s = String::with_capacity(lower.len() + 1);
            s.push(q);
            s.push_str(lower);
            let prose = lower[..break_at].trim().contains(char::is_whitespace);
            // The literals: before the first quote, and every other stretch after it.
            let literal_prose = lower
                .split(q)
                .step_by(2)
                .any(|x| x.trim().contains(char::is_whitespace));
            if let Some(n) = injection(
                &tokenize_quoted(&s, q as u8),
                true,
                break_at,
                prose,
                literal_prose,
            ) {
                return Some((q, n));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::is_sqli;

    #[test]
    fn hex_escapes_next_to_non_ascii_text_are_read_without_panicking() {
        assert!(!is_sqli("\\xa\u{e9} caf\u{e9}"));
        assert!(!is_sqli("\\x\u{e9}\u{e9}"));
        assert!(is_sqli("\u{e9}\\x27 or \\x271\\x27=\\x271"));
    }

    #[test]
    fn classic_injections() {
        for p in [
            "' or 1=1--",
            "1' OR '1'='1",
            "admin'--",
            "1 union select 1,2,3",
            "-1/**/UNION/**/SELECT/**/password/**/FROM/**/users",
            "1 AND SLEEP(5)",
            "1;DROP TABLE users",
            "1) or (1=1",
            "' /*!50000union*/ select 1,2--",
            "\" or \"\"=\"",
            "1 and 1=1",
            "x' AND 1=(SELECT COUNT(*) FROM tabname); --",
            "admin'#",
            "admin' -- -",
            "x'/**/",
            "1; exec xp_cmdshell 'dir'",
            "1;exec(@s)",
            "1; exec sp_who",
            "'-'",
            "a' || 'b",
            // Expressions the application's quote completes, MySQL operator soup.
            "aa'like-'aa",
            "1' OR '1' XOR '0",
            "abc' = !!'0",
            "aa'^0+0+1-1=(0)-- -a",
            "4' MOD 2 like '0",
            "' --",
            // Unquoted: boolean tests of constants, expressions cut off, clauses.
            "HOPE AND (8)=(3)",
            "~9-(2) OR 1 = ~1",
            "1 --",
            "1*1/*",
            " ( BINARY BINARY ( 'b') )  --",
            "((1) OR ((1 OR 1)))--",
            "id having (1 or true)",
            "3 where prod.id=3/*",
            "14968 order by 5",
            "14/**/or(1)group by",
            "189/**/or/**/1=@@version))----snip",
            "1.UNION SELECT.2alias",
            "1DUNION SELECT 2",
            "1; delete low_priority from foo",
            "1;load xml infile \"foo\"",
            "AND CONNECTION_ID()=CONNECTION_ID()",
            "'NOT REGEXP'",
            "PRINT @@variable",
            "\\x27\\x6F\\x72 SELECT *",
            "-427 UNION *ELECT 1,2,3,4",
            "19 version() LIMIT 1,1",
            "1) FROM USERS WHERE USERNAME=",
            "' or MATCH username AGAINST ('a* -) -+ ' IN BOOLEAN MODE); -- -a",
            "1'; anything: goto anything -- -a",
        ] {
            assert!(is_sqli(p), "missed {p}");
        }
    }

    #[test]
    fn prose_passes() {
        for p in [
            "select your size from the list",
            "NOT ALL WHO WANDER",
            "AS FOR ME AND MY HOUSE",
            "O'Reilly and sons",
            "it's 1 or 2 o'clock",
            "24-7-TEAM",
            "rock 'n' roll",
            "drop me a line; update soon",
            // Comments with words after them, and `#` after a phrase.
            "12\" #3 knitting needles",
            "red shoes' --kids -men -women",
            "lavender soap 2 '#",
            // Statements that could not run: a bare word after an operand, a literal
            // left open with the other quote or closed where the application's quote
            // doubles it, a stray `.`.
            "'-\"10 inch\" ruler",
            "'-\"10 inch rul",
            "oak table\" + \"chairs\" + \"bench\"",
            "see <a href=\"../\">up</a>",
            "2; exec will do the rest",
            "tired? sleep (8 hours)",
            "the end. sleep (well)",
            // Quoted terms and code in prose.
            "\"IS\" STAMP",
            "BROWNING \"LIKE\"",
            "Ie, \"&&\" instead of \"||\".",
            "\"-f -\" will work.",
            "Support \"**\" wildcard in .gitignore",
            "grep '[:lower:]' ...",
            "41/po/*",
            "1051 /* Copy stuff */",
            "representation where MANT_DIG=106 and numbers",
            "Accepts files where File.canRead() is true",
            "3 BY 5 RECIPE CARDS",
            "credit limit 5,000",
            "1=1 meaning",
            "\"LIKE\"",
            "@@ -1,2 +1,3 @@",
            "@@prefix@@/bin",
            "1) from the top",
        ] {
            assert!(!is_sqli(p), "false positive on {p}");
        }
    }
}
