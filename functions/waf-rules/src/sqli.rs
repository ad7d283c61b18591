//! SQL injection detection: the value is tokenised as SQL would read it, three times —
//! as written, as if it sat inside a single-quoted and inside a double-quoted literal —
//! and each token stream is checked for the shapes injections need (a literal closed
//! then continued with an operator, a boolean tail after a number, UNION SELECT, stacked
//! statements, time and file functions). Looking at tokens rather than words is what
//! lets "select your size from the list" through while `1'/**/oR/**/1=1#` is caught.

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
    /// Comparison and arithmetic operators.
    Op,
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
        "outfile" | "dumpfile" => Outfile,
        "like" | "rlike" | "regexp" | "sounds" | "glob" => Like,
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
        | "collate" | "escape" | "delay" | "with" | "join" | "on" | "load" | "data" | "infile"
        | "binary" | "mod" | "when" | "then" | "else" | "end" => Other,
        "and" | "or" | "xor" | "div" => return Some(Tok::Logic),
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
        | "compress" | "uncompress" | "strcomp" | "eqv" => Fun::Dangerous,
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
                // `1abc` is a word in most dialects; `1union` splits (MySQL reads it so).
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
                out.push(Tok::Comment(match (cut, c) {
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
                let end = s[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
                out.push(Tok::Comment(Cmt::Block));
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
                let mut j = i + 1;
                while j < b.len() && matches!(b[j], b'<' | b'>' | b'=' | b'!') {
                    j += 1;
                }
                // `!=`, `<>`, `<=>` compare like `=`.
                out.push(if j - i >= 2 { Tok::Eq } else { Tok::Op });
                i = j;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'|' | b'&' | b'~' | b':' => {
                out.push(Tok::Op);
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
                    j += 1;
                }
                let w = &s[i..j];
                // `dbms_pipe.receive_message(` and `information_schema.tables`: the first part names it.
                let head = w.split('.').next().unwrap_or(w);
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
                    Tok::Func(function(head).max_with(function(w.rsplit('.').next().unwrap_or(w))))
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
fn injection(t: &[Tok], quoted: bool, break_at: usize, prose: bool) -> Option<u8> {
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
                ) || (after == Some(Tok::Op)
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
                Some(Tok::Kw(Kw::Delete)) if next(2) == Some(Tok::Kw(Kw::From)) => return Some(7),
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
                        Some(Tok::Eq | Tok::Op | Tok::Comma | Tok::RParen)
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
        if let Some(&after) = tail.first() {
            let second = tail.get(1).copied();
            match after {
                // `admin'--`; an empty literal (`"#2"`) cut off by a comment is just text,
                // and so is `--` or `#` with words after it (`7" #2 needle`). A bare `#`
                // after a phrase (`soap 1 '#`) is punctuation; after one word it is the
                // MySQL login bypass `admin'#`.
                Tok::Comment(c)
                    if !empty_break
                        && match c {
                            Cmt::Block | Cmt::Dash => true,
                            Cmt::Hash => !prose,
                            Cmt::Text => false,
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
                    // `' or '`, `a' && 'b`: the literal re-opened for the application's
                    // own closing quote.
                    if break_at <= 3 && tail.len() == 2 && tail[1] == (Tok::Str { closed: false }) {
                        return Some(30);
                    }
                }
                Tok::Op | Tok::Eq | Tok::Kw(Kw::Like)
                    if !empty_break
                        && break_at <= 3
                        && tail.len() == 2
                        && tail[1] == (Tok::Str { closed: false }) =>
                {
                    return Some(31);
                }
                Tok::Op | Tok::Eq
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
                        Kw::Like => matches!(second, Some(Tok::Str { .. } | Tok::Num)) && later_cut,
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
    if !quoted && n >= 3 {
        let lead = t
            .iter()
            .take_while(|x| matches!(x, Tok::Op | Tok::LParen))
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
            Tok::LParen | Tok::Kw(Kw::Not) | Tok::Op | Tok::Comment(_)
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
            if k > i + 1 && matches!(t.get(k), Some(Tok::Eq | Tok::Op)) && first != Tok::Word {
                return true;
            }
            match t.get(i + 1) {
                Some(Tok::Kw(Kw::Group | Kw::Order | Kw::Having | Kw::Limit | Kw::Union)) => {
                    first == Tok::Num
                }
                Some(
                    Tok::Eq | Tok::Op | Tok::Kw(Kw::Like | Kw::Is | Kw::In | Kw::Between | Kw::Not),
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
    let lower: String = value
        .chars()
        .map(|c| match c {
            '\0' | '\u{a0}' | '\u{fffd}' => ' ',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    // MySQL's executable comments exist only to smuggle SQL.
    if lower.contains("/*!") {
        return true;
    }
    explain(&lower).is_some() || is_nosql(&lower) || is_pg_cast(&lower)
}

/// PostgreSQL casts (`password::int`, `'{..}'::jsonb`): error-based and JSON-operator
/// injections need them, prose and URLs never have them.
fn is_pg_cast(lower: &str) -> bool {
    const TYPES: &[&str] = &[
        "int", "integer", "bigint", "smallint", "text", "json", "jsonb", "varchar", "double",
        "numeric", "bool", "boolean", "regclass", "oid", "bytea", "char", "float",
    ];
    lower.match_indices("::").any(|(i, _)| {
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
    lower.match_indices('$').any(|(i, _)| {
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
    if let Some(n) = injection(&tokenize(lower), false, 0, false) {
        return Some((' ', n));
    }
    for q in ['\'', '"'] {
        if lower.contains(q) {
            let mut s = String::with_capacity(lower.len() + 1);
            s.push(q);
            s.push_str(lower);
            let break_at = lower.find(q).unwrap_or(0);
            let prose = lower[..break_at].trim().contains(char::is_whitespace);
            if let Some(n) = injection(&tokenize_quoted(&s, q as u8), true, break_at, prose) {
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
        ] {
            assert!(!is_sqli(p), "false positive on {p}");
        }
    }
}
