//! User-Agent (plus optional client hints) to device class, by ASCII-case-insensitive token scan.

/// Device class, as used for CloudFront-style `*-Viewer` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Desktop,
    Mobile,
    Tablet,
    SmartTv,
    Bot,
}

impl Class {
    /// Lower-case name: "desktop", "mobile", "tablet", "smarttv" or "bot".
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Desktop => "desktop",
            Class::Mobile => "mobile",
            Class::Tablet => "tablet",
            Class::SmartTv => "smarttv",
            Class::Bot => "bot",
        }
    }
}

/// Only this many leading bytes of a User-Agent are examined.
const MAX_UA: usize = 768;

type Tokens = &'static [&'static [u8]];

/// Always an automated client: crawlers, monitors, previewers, scanners, URLs and e-mail contacts.
#[rustfmt::skip]
const BOT: Tokens = &[
    b"crawl", b"spider", b"slurp", b"scrap", b"fetch", b"robot", b"headless", b"phantomjs",
    b"lighthouse", b"page speed", b"pagespeed", b"monitor", b"uptime", b"pingdom", b"valid",
    b"check", b"scan", b"analyz", b"analys", b"archiv", b"preview", b"favicon", b"externalhit",
    b"mailto", b"(at)", b"subscriber", b"synthetic", b"inspect",
    b"audit", b"research", b"survey", b"lookup", b"diagnos", b"probe", b"render", b"snippet",
    b"verif", b"jndi:", b"${", b"{{", b"nutch", b"heritrix", b"zgrab", b"masscan", b"nmap",
    b"nikto", b"sqlmap", b"mediapartners", b"adsense", b"google-", b"-google", b"google ",
    b"gptbot", b"chatgpt", b"claude", b"anthropic", b"openai", b"perplexity", b"-ai/", b"-ai ",
    b"facebookexternal", b"facebookcatalog", b"yahoo:", b"yahoo!", b"ask jeeves", b"teoma",
    b"indexer", b"extractor", b"finder", b"proxy/", b"imageproxy", b"(via ", b"observatory",
    b"-user/", b"gecko; compatible",
];

/// Contact URLs: automated, unless a desktop/TV app names its platform ("NetNewsWire (macOS;
/// RSS Reader; https://...)").
const URL: Tokens = &[b"http:", b"https:", b"www."];

/// HTTP libraries and tools: automated unless a phone/tablet OS is named as well.
#[rustfmt::skip]
const LIB: Tokens = &[
    b"curl", b"wget", b"python", b"java/", b"okhttp", b"httpclient", b"http-client",
    b"http_client", b"libwww", b"lwp-", b"go-http", b"axios", b"node-fetch", b"undici", b"guzzle",
    b"ruby/", b"perl/", b"php/", b"aiohttp", b"httpx", b"requests", b"urllib", b"winhttp",
    b"powershell", b"postman", b"insomnia", b"reqwest", b"hyper/", b"httpie", b"apache-",
    b"jakarta", b"libcurl", b"http.rb", b"faraday", b"rest-client", b"restsharp", b"cfnetwork/ ",
    b"indy library", b"webcopier", b"httrack", b"dataprovider",
];

/// App/browser markers that override a weak bot hint (search apps, in-app browsers).
#[rustfmt::skip]
const APP: Tokens = &[
    b"com.google.", b"googletv", b"google tv", b"google pixel", b"pixelbook", b"googleapp",
    b"gsa/", b"google fiber",
];

/// Smart TVs, set-top boxes, streaming sticks and home games consoles.
#[rustfmt::skip]
const TV: Tokens = &[
    b"smart-tv", b"smarttv", b"smart tv", b"smart_tv", b"hbbtv", b"hybridcast", b"netcast",
    b"web0s", b"webos.tv", b"webos tv", b"tizen tv", b"appletv", b"apple tv", b"tvos", b"crkey",
    b"roku", b"bravia", b"googletv", b"google tv", b"android tv", b"androidtv", b"; tv", b"tv bro",
    b") tv ", b"opera tv", b"viera", b"vizio", b"espial", b"nettv", b"maple", b"freebox", b"kylo",
    b"ce-html", b"inettvbrowser", b"set-top", b"settop", b"tv box", b"tvbox", b"mibox",
    b"chromecast", b"fire tv", b"firetv", b"playstation", b"xbox", b"nintendo wii",
    b"nintendo switch", b"ouya", b"digitaltv", b"opentv", b"vidaa", b"vstvb", b"foxxum",
    b"metrological", b"netrange", b"andr0id", b" omi/", b"linux mips", b"sonycebrowser",
    b"bdplayer", b"iptv", b"tv safari", b"_stb", b" stb", b"stbapp", b"webtv", b"brightsign",
    b"dlnadoc", b"aquos-", b"tclwebkit", b"(sky,", b"sky_tv", b"wpe ", b"v.tv.", b"tv/", b"-atv;",
    b"tivimate",
];

/// Handheld consoles are grouped with phones.
#[rustfmt::skip]
const HANDHELD: Tokens = &[
    b"playstation portable", b"playstation vita", b"psp", b"nintendo 3ds", b"nintendo dsi",
];

/// Tablet markers anywhere in the UA.
#[rustfmt::skip]
const TABLET_UA: Tokens = &[
    b"ipad", b"tablet", b"kindle", b"silk/", b"playbook", b"fbid/tablet", b"/apad", b"pocketbook",
];

/// Tablet product families, matched anywhere in the Android device model.
#[rustfmt::skip]
const TABLET_MODEL: Tokens = &[
    b"tablet", b"slate", b"iconia", b"transformer", b"xoom", b"nexus 7", b"nexus 9", b"nexus 10",
    b"pixel c", b"mediapad", b"matepad", b"surftab", b"wifi", b"wi-fi", b"iplay", b"teclast",
    b"chuwi", b"alldocube", b"ideapad", b"lenovo tb", b"lenovo yt", b"yoga tab", b"ideatab", b"flyer", b"-w09",
    b"-w19", b"-w29", b"-w59", b"-w00", b"-w10", b"kid",
];

/// Tablet model-number prefixes (Samsung SM-T/P/X, Lenovo TB, Amazon KF, Huawei, ...).
#[rustfmt::skip]
const TABLET_PREFIX: Tokens = &[
    b"gt-p", b"gt-n51", b"gt-n80", b"sm-t", b"sm-p", b"sm-x", b"sch-i800", b"tb-", b"tb2-", b"tb3",
    b"tb1", b"tb-x", b"yt3-", b"yt-", b"kf", b"sgp", b"ags", b"agr", b"bah", b"bzt", b"cmr",
    b"dby", b"jdn", b"kob", b"scm", b"got-", b"bg2-", b"btv-", b"pmt", b"pmp", b"citi", b"plane",
    b"bq-7", b"bq-8", b"bq-1", b"bq-9", b"bqru-7", b"bqru-1", b"tz", b"p0", b"me1", b"me3", b"krj",
    b"hdl-", b"vrd-", b"mon-", b"bzk-", b"cpn-", b"hey-", b"rod-", b"opd", b"rmp2", b"b1-", b"b3-",
    b"pb-6", b"bntv", b"nook", b"nabi", b"nomi_c", b"nomi c", b"mito t", b"ginzzu gt", b"ginzzu_gt",
    b"readboy", b"element 7", b"element7",
];

/// Phone model families whose names would otherwise look like tablets or that may omit
/// "Mobile" (foldables, desktop-mode browsers).
#[rustfmt::skip]
const PHONE_MODEL: Tokens = &[
    b"padfone", b"coolpad", b"sm-g", b"sm-n", b"sm-a", b"sm-f", b"sm-j", b"sm-s", b"sm-m", b"sm-w",
    b"sm-e", b"sm-c", b"samsung-sm-", b"shv-", b"shw-", b"phone", b"letv", b"turbox", b"runbox", b"htv3", b"mlled",
];

/// Laptops and PCs running an Android build.
#[rustfmt::skip]
const PC_MODEL: Tokens = &[
    b"chromebook", b"pixelbook", b"latitude", b"inspiron", b"vostro", b"travelmate",
    b"acer aspire", b"satellite", b"elitebook", b"probook", b"thinkpad", b"zenbook",
    b"vivobook", b"macbook", b"laptop", b"notebook", b"desktop", b" pc", b" aio",
];

/// TV chassis and streaming-box names, matched anywhere in the Android device model.
#[rustfmt::skip]
const TV_MODEL: Tokens = &[
    b"tv", b"box", b"led", b"stb", b"uhd", b"dongle", b"stick", b"shell", b"beelink", b"ugoos",
    b"vontar", b"transpeed", b"mecool", b"me-cool", b"rk3", b"amlogic", b"s905", b"s912",
    b"allwinner", b"rockchip", b"nexon", b"invin", b"vorke", b"yundoo", b"zidoo", b"minix",
    b"tanix", b"magicsee", b"sunvell", b"evpad", b"gtking", b"iconbit", b"x88", b"neo-x", b"mk80",
    b"pendoo", b"mecool", b"tanix", b"selenga", b"perfeo", b"nogapc", b"ozonehd", b"ozone hd",
    b"stream", b"dvb", b"ott",
];

/// Android TV-box model-number prefixes.
#[rustfmt::skip]
const TV_PREFIX: Tokens = &[
    b"aft", b"x96", b"h96", b"t95", b"tx3", b"tx5", b"tx6", b"tx9", b"mxq", b"m8s", b"a95x", b"hk1",
    b"tox", b"vmp-", b"gt1-", b"gt1m", b"netta ", b"vega s9", b"dolamee", b"pipo_x", b"a5x", b"i96",
    b"ki pro", b"kiii pro", b"tpm1", b"abx-",
];

/// Phones, feature phones and other handhelds.
#[rustfmt::skip]
const MOBILE: Tokens = &[
    b"mobile", b"mobi", b"iphone", b"ipod", b"phone", b"android", b"symbian", b"series40",
    b"series60", b"series 60", b"s60", b"j2me", b"midp", b"cldc", b"blackberry", b"bb10",
    b"opera mini", b"windows ce", b"palm", b"webos", b"kaios", b"up.browser", b"up.link", b"wap",
    b"docomo", b"kddi", b"softbank", b"vodafone", b"nokia", b"sonyericsson", b"samsung", b"sgh-",
    b"sch-", b"mot-", b"lg-", b"alcatel", b"obigo", b"netfront", b"openwave", b"teleca", b"maui",
    b"spreadtrum", b"mtk", b"ucweb", b"ucbrowser", b"bada", b"meego", b"maemo", b"sailfish",
    b"tizen", b"firefox os", b"willcom", b"emobile", b"portalmmm", b"semc", b"brew", b"huawei",
    b"zte", b"watch", b"wear os", b"ios", b"mre/", b"j-phone", b"foma", b"ddipocket",
    b"jig browser",
];

/// Windows-family UAs that are phones or PDAs.
#[rustfmt::skip]
const WINDOWS_MOBILE: Tokens = &[
    b"windows phone", b"wpdesktop", b"iemobile", b"windows ce", b"windows mobile", b"wce;",
    b"opera mobi", b"ppc;", b"lumia", b"wds ", b"palm", b"zunewp",
];

/// Tokens that identify a desktop or laptop operating system.
#[rustfmt::skip]
const DESKTOP: Tokens = &[
    b"windows", b"win32", b"win64", b"win98", b"win95", b"winnt", b"macintosh", b"mac os",
    b"macos", b"mac_powerpc", b"darwin", b"x11", b"linux", b"cros", b"bsd", b"sunos", b"haiku",
    b"beos", b"amiga", b"os/2", b"irix", b"hp-ux", b"aix", b"ubuntu", b"fedora", b"debian",
    b"msie", b"trident/", b"i686", b"x86_64", b"macbook", b"imac", b"quicktime", b"win7", b"win8",
    b"win10", b"win11", b"cygwin", b"openvms", b"syllable",
];

/// The token lists looked for anywhere in the User-Agent, each a bit of [`Ua::lists`].
#[derive(Clone, Copy)]
enum List {
    Bot = 1 << 0,
    Url = 1 << 1,
    Lib = 1 << 2,
    App = 1 << 3,
    Tv = 1 << 4,
    Handheld = 1 << 5,
    TabletUa = 1 << 6,
    Mobile = 1 << 7,
    WindowsMobile = 1 << 8,
    Desktop = 1 << 9,
    /// Mac architectures, telling a macOS CFNetwork client from an iOS app.
    MacArch = 1 << 10,
}

const UA_LISTS: [(List, Tokens); 11] = [
    (List::Bot, BOT),
    (List::Url, URL),
    (List::Lib, LIB),
    (List::App, APP),
    (List::Tv, TV),
    (List::Handheld, HANDHELD),
    (List::TabletUa, TABLET_UA),
    (List::Mobile, MOBILE),
    (List::WindowsMobile, WINDOWS_MOBILE),
    (List::Desktop, DESKTOP),
    (List::MacArch, &[b"x86", b"i386", b"mac", b"ppc"]),
];

/// How many tokens the UA lists hold together.
const UA_TOKENS: usize = {
    let (mut n, mut i) = (0, 0);
    while i < UA_LISTS.len() {
        n += UA_LISTS[i].1.len();
        i += 1;
    }
    n
};

/// Buckets of [`TokenIndex`], one per value of [`pair_bit`].
const BUCKETS: usize = 4096;

/// Every token of the UA lists, bucketed by its first two bytes, so that one pass over
/// the UA finds all the lists it matches: at each position only the tokens that start
/// with the two bytes there are compared (about 1 in 300), where asking list by list
/// cost a check per token per list (most of the function's time on a new UA).
struct TokenIndex {
    /// Bucket `b` holds `tokens[start[b]..start[b + 1]]`.
    start: [u16; BUCKETS + 1],
    /// Each token with its list's bit.
    tokens: [(&'static [u8], u16); UA_TOKENS],
}

/// Built at compile time: a table in the module's data, nothing to set up per instance.
static INDEX: TokenIndex = {
    let mut start = [0u16; BUCKETS + 1];
    let mut l = 0;
    while l < UA_LISTS.len() {
        let mut t = 0;
        while t < UA_LISTS[l].1.len() {
            let token = UA_LISTS[l].1[t];
            assert!(token.len() >= 2, "UA tokens have two bytes at least");
            start[pair_bit(token[0], token[1]) + 1] += 1;
            t += 1;
        }
        l += 1;
    }
    let mut b = 0;
    while b < BUCKETS {
        start[b + 1] += start[b];
        b += 1;
    }
    let mut next = start;
    let mut tokens: [(&'static [u8], u16); UA_TOKENS] = [(b"", 0); UA_TOKENS];
    let mut l = 0;
    while l < UA_LISTS.len() {
        let (list, list_tokens) = UA_LISTS[l];
        let mut t = 0;
        while t < list_tokens.len() {
            let token = list_tokens[t];
            let b = pair_bit(token[0], token[1]);
            tokens[next[b] as usize] = (token, list as u16);
            next[b] += 1;
            t += 1;
        }
        l += 1;
    }
    TokenIndex { start, tokens }
};

/// The lower-cased UA, the lists it matches, and a 4096-bit set of the byte pairs it
/// contains, so that most single tokens are rejected without scanning the string.
struct Ua<'a> {
    s: &'a [u8],
    raw: &'a [u8],
    /// The [`List`]s with a token in the UA.
    lists: u16,
    pairs: [u64; 64],
}

#[inline]
const fn pair_bit(a: u8, b: u8) -> usize {
    (a as usize * 37 + b as usize) & (BUCKETS - 1)
}

impl<'a> Ua<'a> {
    fn new(s: &'a [u8], raw: &'a [u8]) -> Self {
        let mut pairs = [0u64; 64];
        let mut lists = 0;
        for (i, w) in s.windows(2).enumerate() {
            let bit = pair_bit(w[0], w[1]);
            pairs[bit >> 6] |= 1 << (bit & 63);
            let bucket = &INDEX.tokens[INDEX.start[bit] as usize..INDEX.start[bit + 1] as usize];
            for &(token, list) in bucket {
                if lists & list == 0 && starts_with(&s[i..], token) {
                    lists |= list;
                }
            }
        }
        Ua {
            s,
            raw,
            lists,
            pairs,
        }
    }

    #[inline]
    fn pair(&self, a: u8, b: u8) -> bool {
        let bit = pair_bit(a, b);
        self.pairs[bit >> 6] & (1 << (bit & 63)) != 0
    }

    /// Whether `needle` (lower-case) occurs. Every byte pair of an occurring needle is in
    /// the set, so a needle with a pair missing is rejected without scanning the UA; checking
    /// every pair, not only the first and last (and short needles too), leaves the scan to
    /// almost only the needles that are there.
    #[inline]
    fn has(&self, needle: &[u8]) -> bool {
        if needle.windows(2).any(|w| !self.pair(w[0], w[1])) {
            return false;
        }
        find(self.s, needle).is_some()
    }

    /// Whether a token of `list` occurs.
    #[inline]
    fn any(&self, list: List) -> bool {
        self.lists & list as u16 != 0
    }
}

/// Position of `needle` in `hay` (both already lower-case).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last = hay.len().checked_sub(needle.len())?;
    let mut from = 0;
    while from <= last {
        let i = from + first_byte(&hay[from..=last], first)?;
        if starts_with(&hay[i + 1..], rest) {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// Index of the first `byte` in `hay`, eight bytes at a step (a byte loop cost most of
/// a long User-Agent's classification).
fn first_byte(hay: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let pattern = ONES * u64::from(byte);
    let mut words = hay.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let x = u64::from_le_bytes(word.try_into().expect("eight bytes")) ^ pattern;
        // The high bit of each zero byte (and perhaps of bytes above the lowest one,
        // borrows): the lowest flagged byte is exact.
        let zeros = x.wrapping_sub(ONES) & !x & (ONES << 7);
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = words.remainder().iter().position(|&b| b == byte)?;
    Some(at + tail)
}

/// `hay.starts_with(needle)` as a byte loop: the tokens are short, and the slice
/// comparison calls `memcmp` (in Wasm, a function of the module) for every candidate.
#[inline]
fn starts_with(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay.iter().zip(needle).all(|(a, b)| a == b)
}

fn any_in(hay: &[u8], list: Tokens) -> bool {
    list.iter().any(|n| find(hay, n).is_some())
}

/// How often `bot` ends a word ("Googlebot/2.1", "AhrefsBot", "bot@"), excluding phone brand CUBOT.
fn bot_words(s: &[u8]) -> usize {
    let (mut from, mut n) = (0, 0);
    while let Some(p) = find(&s[from..], b"bot") {
        let i = from + p;
        let after = s.get(i + 3).copied().unwrap_or(b' ');
        let cubot = i >= 2 && &s[i - 2..i] == b"cu";
        if !after.is_ascii_lowercase() && !cubot {
            n += 1;
        }
        from = i + 3;
    }
    n
}

/// A "+domain" or "+user@domain" contact, as crawlers append: "...; +devin.ai".
fn has_contact(s: &[u8]) -> bool {
    s.windows(3).enumerate().any(|(i, w)| {
        w == b"; +"
            && s[i + 3..]
                .iter()
                .take_while(|c| !matches!(c, b' ' | b';' | b')'))
                .any(|&c| c == b'.' || c == b'@')
    })
}

/// The Android build id: "PTT1.190716.001" in "Build/PTT1.190716.001".
fn build_id(s: &[u8]) -> &[u8] {
    let Some(p) = find(s, b"build/") else {
        return b"";
    };
    let rest = &s[p + 6..];
    let end = rest
        .iter()
        .position(|&c| matches!(c, b';' | b')' | b' '))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Build ids only seen on TV platforms: Android TV's "xTTn" releases ("PTT1", "QTT5", "RTT0",
/// "STT1") and the AOSP tags used by Amlogic/MStar/Realtek TV boards.
fn is_tv_build(b: &[u8]) -> bool {
    let tags: Tokens = &[b"nhg47", b"rd2a.", b"ppr2.180905"];
    matches!(b, [b'p'..=b'u', b't', b't', b'0'..=b'9', ..] | b"pi") || any_prefix(b, tags)
}

fn any_prefix(m: &[u8], list: Tokens) -> bool {
    list.iter().any(|p| m.starts_with(p))
}

/// Screen size coded in DNS/Digma/Prestigio-style model numbers: "VS5016PG", "TS1291PL" (two
/// letters, four digits, two letters; the first digit is the diagonal: 4-6 phone, 7-10 tablet).
fn coded_size(m: &[u8]) -> Option<u8> {
    m.split(|&c| c == b' ' || c == b'_').find_map(|w| match w {
        [
            a,
            b,
            d @ b'0'..=b'9',
            b'0'..=b'9',
            b'0'..=b'9',
            b'0'..=b'9',
            y,
            z,
        ] if [a, b, y, z].iter().all(|c| c.is_ascii_lowercase()) => Some(d - b'0'),
        _ => None,
    })
}

/// The device model field of an Android UA: "(Linux; U; Android 9; en-us; SM-T580 Build/..)".
fn android_model(s: &[u8]) -> &[u8] {
    let (p, skip) = match find(s, b"android") {
        Some(p) => (p, 7),
        None => match find(s, b"adr ") {
            Some(p) => (p, 4),
            None => return b"",
        },
    };
    let mut rest = &s[p + skip..];
    while let Some((&c, r)) = rest.split_first() {
        if c == b';' || c == b')' {
            break;
        }
        rest = r;
    }
    while let Some((&b';', r)) = rest.split_first() {
        let end = r
            .iter()
            .position(|&c| c == b';' || c == b')')
            .unwrap_or(r.len());
        let mut field = trim(&r[..end]);
        rest = &r[end..];
        if let Some(b) = find(field, b"build/") {
            field = trim(&field[..b]);
        }
        let skip = field.is_empty() || field == b"u" || field == b"wv" || is_locale(field);
        if skip || field.starts_with(b"applewebkit") {
            continue;
        }
        return field;
    }
    b""
}

fn trim(mut f: &[u8]) -> &[u8] {
    while let [b' ', r @ ..] = f {
        f = r;
    }
    while let [r @ .., b' '] = f {
        f = r;
    }
    f
}

fn is_locale(f: &[u8]) -> bool {
    if let [a, b, b'-', rest @ ..] = f {
        // "zh-Hans-CN"
        if rest.len() > 4 && a.is_ascii_lowercase() && b.is_ascii_lowercase() {
            return rest.iter().all(|c| c.is_ascii_lowercase() || *c == b'-');
        }
    }
    match f {
        [a, b] => a.is_ascii_lowercase() && b.is_ascii_lowercase(),
        [a, b, b'-' | b'_', c, d] => {
            a.is_ascii_lowercase()
                && b.is_ascii_lowercase()
                && c.is_ascii_lowercase()
                && d.is_ascii_lowercase()
        }
        _ => false,
    }
}

/// Amazon Fire TV device codes ("AFTMM", "AFTSS", "AFTKA") outside an Android model field.
fn has_fire_tv_code(raw: &[u8]) -> bool {
    raw.windows(5).enumerate().any(|(i, w)| {
        w.starts_with(b"AFT")
            && w[3].is_ascii_uppercase()
            && (i == 0 || !raw[i - 1].is_ascii_alphanumeric())
    })
}

/// Common TV screen diagonals, in inches.
#[rustfmt::skip]
const TV_SIZES: &[u8] = &[
    24, 28, 32, 39, 40, 42, 43, 48, 49, 50, 55, 58, 60, 65, 70, 75, 77, 85, 86, 98,
];

/// TV model numbers carry the screen size, optionally after a short series prefix:
/// "55LU8120T", "H32F8000QG", "TD55UFBHV1", "POLARLINE_32PL13TC", "32LEX-7145".
fn has_screen_size(m: &[u8]) -> bool {
    let mut word = 0; // start of the current word
    for i in 0..m.len() {
        if matches!(m[i], b' ' | b'-' | b'_' | b'/') {
            word = i + 1;
            continue;
        }
        let prefix = &m[word..i];
        if prefix.len() > 3 || !prefix.iter().all(u8::is_ascii_lowercase) {
            continue;
        }
        let [d1 @ b'0'..=b'9', d2 @ b'0'..=b'9', tail @ ..] = &m[i..] else {
            continue;
        };
        let size = (d1 - b'0') * 10 + (d2 - b'0');
        let head = &tail[..tail.len().min(6)];
        if TV_SIZES.contains(&size)
            && tail.first().is_some_and(u8::is_ascii_lowercase)
            && tail.len() >= 4
            && head.iter().any(u8::is_ascii_digit)
            && !head[..4].contains(&b' ')
        {
            return true;
        }
    }
    false
}

/// "4K"/"8K" as a word of its own ("AS_4K_CI", "SMX4K", "8K618-T"), not "SO-04K".
fn has_uhd_marker(m: &[u8]) -> bool {
    m.windows(2).enumerate().any(|(i, w)| {
        (w == b"4k" || w == b"8k")
            && (i == 0 || !m[i - 1].is_ascii_digit())
            && !m.get(i + 2).is_some_and(u8::is_ascii_lowercase)
    })
}

/// `word` occurs in `m` not followed by a letter ("Galaxy Tab 4", "MatePad", "MID1126").
fn has_word_end(m: &[u8], word: &[u8]) -> bool {
    let mut from = 0;
    while let Some(p) = find(&m[from..], word) {
        let end = from + p + word.len();
        if !m.get(end).is_some_and(u8::is_ascii_lowercase) {
            return true;
        }
        from = end;
    }
    false
}

/// Xiaomi numeric model codes mark Redmi Pads with "RP": "24018RPACC", "23073RPBFG".
fn is_redmi_pad(m: &[u8]) -> bool {
    let d = digits(m);
    (4..=5).contains(&d) && find(&m[d..m.len().min(d + 3)], b"rp").is_some()
}

fn digits(w: &[u8]) -> usize {
    w.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// BBK phone model numbers, which never name a TV or tablet: Vivo "V2330"/"vivo 1716", Oppo
/// "CPH2591", Realme "RMX3619".
fn is_bbk_phone(m: &[u8]) -> bool {
    let alnum = m.iter().all(u8::is_ascii_alphanumeric);
    let vivo = matches!(m, [b'v', r @ ..] if digits(r) == 4 && r.len() <= 6 && alnum);
    let code = |p: &[u8]| m.strip_prefix(p).is_some_and(|r| digits(r) == 4);
    vivo || m.starts_with(b"vivo ") || code(b"cph") || code(b"rmx")
}

/// Xiaomi "2201117TG"/"M2101K6G" and Huawei/Honor "FCP-AN10"/"TAH-N29m" phone codes; their
/// tablet codes are matched before this.
fn is_phone_code(m: &[u8]) -> bool {
    let code = m.strip_prefix(b"m").unwrap_or(m);
    // Xiaomi codes open with the launch year and month.
    let year = matches!(code, [b'1', b'8'..=b'9', ..] | [b'2', b'0'..=b'9', ..]);
    let xiaomi = year
        && (4..=8).contains(&digits(code))
        && (8..=10).contains(&m.len())
        && m.iter().all(u8::is_ascii_alphanumeric)
        && m.last().is_some_and(u8::is_ascii_lowercase);
    match m {
        // Huawei tablets add a generation digit ("AGS3-", "HEY2-") or end in "AL09".
        [a, b, c, b'-', r @ ..] if [a, b, c].iter().all(|c| c.is_ascii_lowercase()) => {
            let l = r.iter().take_while(|c| c.is_ascii_lowercase()).count();
            let suffix = [&b"al"[..], b"an", b"tl", b"lx", b"nx", b"l", b"n", b"tn"];
            !r.starts_with(b"al09")
                && suffix.contains(&&r[..l])
                && r.get(l).is_some_and(u8::is_ascii_digit)
        }
        _ => xiaomi,
    }
}

/// Class implied by an Android device model name, if any.
fn model_class(mut m: &[u8]) -> Option<Class> {
    if m.is_empty() {
        return None;
    }
    for brand in [&b"samsung-"[..], b"samsung ", b"samsung_"] {
        if let Some(rest) = m.strip_prefix(brand) {
            m = rest;
        }
    }
    match coded_size(m) {
        Some(1 | 7..=9) => return Some(Class::Tablet),
        Some(4..=6) => return Some(Class::Mobile),
        _ => {}
    }
    if any_in(m, PHONE_MODEL) || is_bbk_phone(m) {
        return Some(Class::Mobile);
    }
    let tv_prefix = any_prefix(m, TV_PREFIX);
    if tv_prefix || has_screen_size(m) || has_uhd_marker(m) || any_in(m, TV_MODEL) {
        return Some(Class::SmartTv);
    }
    let tab = has_word_end(m, b"tab") || has_word_end(m, b"pad") || has_word_end(m, b"mid");
    if tab || find(m, b"tablet").is_some() || is_redmi_pad(m) {
        return Some(Class::Tablet);
    }
    if any_in(m, PC_MODEL) || m.starts_with(b"aspire") || m.starts_with(b"nuc") {
        return Some(Class::Desktop);
    }
    if any_in(m, TABLET_MODEL) || any_prefix(m, TABLET_PREFIX) {
        return Some(Class::Tablet);
    }
    if is_phone_code(m) {
        return Some(Class::Mobile);
    }
    // Alcatel numbers its tablets 80xx and 90xx-94xx (phones 4xxx-6xxx, phablets 9001/9008).
    let digits = digits(m);
    let num = m[..digits]
        .iter()
        .fold(0u32, |n, c| n.saturating_mul(10) + u32::from(c - b'0'));
    if digits == 4 && matches!(num, 8000..=8099 | 9002..=9007 | 9009..=9499) {
        return Some(Class::Tablet);
    }
    if find(m, b"3g").is_some() {
        // "3G" variants of Wi-Fi tablets (phones rarely name it; those that do say "Phone" or
        // carry a coded size, both handled above).
        return Some(Class::Tablet);
    }
    None
}

/// Classify from the User-Agent alone.
pub fn classify(user_agent: &str) -> Class {
    classify_with_hints(user_agent, None, None)
}

/// Classify using client hints too: `sec_ch_ua_mobile` is the raw Sec-CH-UA-Mobile header value
/// ("?1"/"?0"), `sec_ch_ua_platform` the raw Sec-CH-UA-Platform value (e.g. "\"Android\"").
/// Hints only refine a result where the UA is ambiguous (e.g. reduced Chrome UA
/// "Linux; Android 10; K").
pub fn classify_with_hints(
    user_agent: &str,
    sec_ch_ua_mobile: Option<&str>,
    sec_ch_ua_platform: Option<&str>,
) -> Class {
    let mut buf = [0u8; MAX_UA];
    let src = user_agent.as_bytes();
    let n = src.len().min(MAX_UA);
    for (d, s) in buf.iter_mut().zip(&src[..n]) {
        *d = s.to_ascii_lowercase();
    }
    let s = trim(&buf[..n]);
    if s.is_empty() || s == b"-" {
        return Class::Desktop;
    }
    let ua = Ua::new(s, &src[..n]);
    let hint_mobile = sec_ch_ua_mobile.map(|v| v.trim() == "?1");
    let hint_android = sec_ch_ua_platform
        .is_some_and(|v| v.trim().trim_matches('"').eq_ignore_ascii_case("android"));

    let model = android_model(s);
    if bot_words(s) > bot_words(model) || (ua.any(List::Bot) && !ua.any(List::App)) {
        return Class::Bot;
    }
    if ua.has(b"; +") && has_contact(s) {
        return Class::Bot;
    }
    let handset = [&b"android"[..], b"iphone", b"ipad", b"ios", b"midp"];
    let handset = handset.iter().any(|t| ua.has(t));
    let app = !s.starts_with(b"mozilla/") && (handset || ua.any(List::Desktop) || ua.any(List::Tv));
    if ua.any(List::Url) && !app && !ua.any(List::App) {
        return Class::Bot;
    }
    // NCSA/VMS Mosaic is a desktop browser built on libwww.
    if !handset && ua.any(List::Lib) && !ua.has(b"mosaic") {
        return Class::Bot;
    }
    match device(&ua, model, hint_mobile, hint_android) {
        Some(c) => c,
        // Unknown: a browser-style UA is treated as desktop (as CloudFront does), while a bare
        // product token with no platform at all ("node", "Hello, world", "MyApp/1.0") is a
        // program, not a person at a screen.
        None if s.starts_with(b"mozilla/") && !ua.has(b"compatible;") && ua.has(b";") => {
            Class::Desktop
        }
        None => Class::Bot,
    }
}

fn device(ua: &Ua, model: &[u8], hint_mobile: Option<bool>, hint_android: bool) -> Option<Class> {
    let s = ua.s;
    if ua.any(List::Handheld) {
        return Some(Class::Mobile);
    }
    if ua.any(List::Tv) || s.ends_with(b" tv") || has_fire_tv_code(ua.raw) {
        return Some(Class::SmartTv);
    }
    if ua.has(b"windows") {
        if ua.any(List::WindowsMobile) {
            return Some(Class::Mobile);
        }
        if ua.has(b"touch") || ua.has(b"; arm") {
            return Some(Class::Tablet);
        }
        if !ua.has(b"android") {
            return Some(Class::Desktop);
        }
    }
    if ua.has(b"android") || ua.has(b"adr ") {
        if is_tv_build(build_id(s)) || ua.has(b"kodi/") {
            return Some(Class::SmartTv);
        }
        if ua.has(b"chromebook") {
            return Some(Class::Desktop);
        }
        if let Some(c) = model_class(model) {
            return Some(c);
        }
        if ua.any(List::TabletUa) {
            return Some(Class::Tablet);
        }
        if ua.has(b"mobile") || ua.has(b"opera mini") || hint_mobile == Some(true) {
            return Some(Class::Mobile);
        }
        // A browser that omits "Mobile" runs on a large screen; apps, WebViews and
        // libraries (Dalvik, podcast players) simply never say it.
        let browser = ua.has(b"safari") || ua.has(b"firefox") || ua.has(b"presto");
        return Some(if browser {
            Class::Tablet
        } else {
            Class::Mobile
        });
    }
    if ua.any(List::TabletUa) {
        return Some(Class::Tablet);
    }
    if ua.has(b"cfnetwork") && !ua.any(List::MacArch) {
        // Apple networking stack without a Mac architecture: an iOS app.
        return Some(Class::Mobile);
    }
    if ua.any(List::Mobile) {
        return Some(Class::Mobile);
    }
    if ua.any(List::Desktop) {
        if hint_android {
            return Some(if hint_mobile == Some(true) {
                Class::Mobile
            } else {
                Class::Tablet
            });
        }
        return Some(Class::Desktop);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const CASES: &[(Class, &str)] = &[
        (Class::Desktop, ""),
        (Class::Desktop, "-"),
        (Class::Desktop, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
        (Class::Desktop, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"),
        (Class::Desktop, "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; Tablet PC 2.0)"),
        (Class::Mobile, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"),
        (Class::Mobile, "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"),
        (Class::Mobile, "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"),
        (Class::Mobile, "Dalvik/2.1.0 (Linux; U; Android 13; SM-G991U Build/TP1A.220624.014)"),
        (Class::Mobile, "Nokia2720a-2/2.0 (09.85) Profile/MIDP-2.1 Configuration/CLDC-1.1"),
        (Class::Mobile, "Mozilla/5.0 (Mobile; Nokia_8110_4G; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5.1"),
        (Class::Mobile, "Mozilla/5.0 (compatible; MSIE 10.0; Windows Phone 8.0; Trident/6.0; IEMobile/10.0; ARM; Touch; NOKIA; Lumia 920)"),
        (Class::Mobile, "Opera/9.80 (Android; Opera Mini/7.6.35766/35.5706; U; en) Presto/2.8.119 Version/11.10"),
        (Class::Tablet, "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"),
        (Class::Tablet, "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
        (Class::Tablet, "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
        (Class::Tablet, "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.2 like Chrome/124.0.6367.118 Safari/537.36"),
        (Class::Tablet, "Mozilla/5.0 (Android 13; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0"),
        (Class::Tablet, "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; ARM; Trident/6.0; Touch)"),
        (Class::SmartTv, "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36"),
        (Class::SmartTv, "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.88 Safari/537.36 WebAppManager"),
        (Class::SmartTv, "Mozilla/5.0 (Linux; Android 9; AFTKA) AppleWebKit/537.36 (KHTML, like Gecko) Silk/120.3.1 like Chrome/120.0.6099.268 Safari/537.36"),
        (Class::SmartTv, "Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 CrKey/1.56.500000"),
        (Class::SmartTv, "AppleCoreMedia/1.0.0.20L563 (Apple TV; U; CPU OS 16_5 like Mac OS X; en_us)"),
        (Class::SmartTv, "Mozilla/5.0 (Linux; Android 11; 55LU8120T Build/RP1A.200720.011; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/113.0.5672.163 Safari/537.36"),
        (Class::SmartTv, "Mozilla/5.0 (PlayStation; PlayStation 5/6.50) AppleWebKit/605.1.15 (KHTML, like Gecko)"),
        (Class::Bot, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
        (Class::Bot, "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
        (Class::Bot, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36"),
        (Class::Bot, "curl/8.5.0"),
        (Class::Bot, "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
        (Class::Bot, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36"),
        (Class::Bot, "my-uptime-script/0.3"),
        (Class::Bot, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36; Acme-User/1.0; +acme.example"),
        (Class::Bot, "Mozilla/5.0 SomeTool/2.0"),
        (Class::Desktop, "FeedApp/2.1 (macOS; RSS Reader; https://feedapp.example/)"),
        (Class::Mobile, "Mozilla/5.0 (Linux; Android 14; V2250) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
        (Class::Mobile, "Mozilla/5.0 (Linux; Android 13; 2304FPN6DG) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
        (Class::Mobile, "Mozilla/5.0 (Linux; Android 12; ABC-LX9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
        (Class::Mobile, "Mozilla/5.0 (Linux; Android 10; CUBOT NOTE 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"),
        (Class::Mobile, "Mozilla/5.0 (Linux; Android 7.0; LINX B510 3G LT5037MG) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.93 Mobile Safari/537.36"),
        (Class::Tablet, "Mozilla/5.0 (Linux; Android 11; Optima 1444E 4G TS1291PL) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Mobile Safari/537.36"),
        (Class::Tablet, "Mozilla/5.0 (Linux; U; Android 14; zh-cn; 24018RPACC Build/UKQ1.231003.002) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/109.0.5414.86 Mobile Safari/537.36"),
        (Class::SmartTv, "Dalvik/2.1.0 (Linux; U; Android 9; S70CDS Build/PTT1.190716.001)"),
        (Class::SmartTv, "Mozilla/5.0 (Linux; Android 7.1.1; Smart_Starwind Build/NMF26Q; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/52.0.2743.100 Safari/537.36 Quick Search TV/21.09.23"),
    ];

    #[test]
    fn classifies_each_family() {
        for (class, ua) in CASES {
            assert_eq!(classify(ua), *class, "{ua}");
        }
    }

    #[test]
    fn client_hints_refine_ambiguous_uas_only() {
        let hint = |ua: &str, m: &str, p: &str| classify_with_hints(ua, Some(m), Some(p));
        let reduced = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
        assert_eq!(hint(reduced, "?1", "\"Android\""), Class::Mobile);
        assert_eq!(hint(reduced, "?0", "\"Android\""), Class::Tablet);
        // Android "request desktop site" sends a desktop UA but still reports the platform.
        let desktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
        assert_eq!(hint(desktop, "?0", "\"Android\""), Class::Tablet);
        assert_eq!(hint(desktop, "?0", "\"Linux\""), Class::Desktop);
        // An unambiguous UA is not overridden.
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
        assert_eq!(hint(iphone, "?0", "\"macOS\""), Class::Mobile);
    }

    #[test]
    fn find_agrees_with_a_plain_search() {
        let hay = b"mozilla/5.0 (linux; android 14; sm-s918b) chrome/117 mobile safari; bot";
        for start in 0..hay.len() {
            for len in 1..=12.min(hay.len() - start) {
                let needle = &hay[start..start + len];
                for h in [&hay[..], &hay[start..], &hay[..start + len]] {
                    let plain = h.windows(len).position(|w| w == needle);
                    assert_eq!(find(h, needle), plain, "{needle:?}");
                }
            }
        }
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"", b"a"), None);
        assert_eq!(find(b"aaaaaaaaab", b"ab"), Some(8));
    }

    #[test]
    fn names() {
        use Class::*;
        let names = [Desktop, Mobile, Tablet, SmartTv, Bot].map(Class::as_str);
        assert_eq!(names, ["desktop", "mobile", "tablet", "smarttv", "bot"]);
    }

    #[test]
    fn long_and_odd_input_is_safe() {
        assert_eq!(classify(&"a".repeat(10_000)), Class::Bot);
        assert_eq!(classify("Mozilla/5.0 (Linux; Android"), Class::Mobile);
        assert_eq!(classify("ÄÖÜ 日本語 Android;;;)"), Class::Mobile);
    }
}
