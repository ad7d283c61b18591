//! Runs one function hook case a given number of times, for counting instructions under
//! `valgrind --tool=callgrind` (see `benches/instructions.py`): on a shared, noisy
//! machine an instruction count is the one per-request cost that repeats exactly, so
//! small changes can be compared A/B where criterion's timings cannot tell them apart.
//!
//! ```sh
//! hook-instructions <case> <iterations>
//! ```

use std::process::ExitCode;

use wedge::wasm::{EngineSettings, FunctionRun, Hook, WasmEngine};
use wedge_benches::{Load, mobile_request, request_id, view};

/// (case, module, config, requests per instance, decision cache entries, what varies)
type Case = (
    &'static str,
    &'static str,
    fn() -> serde_json::Value,
    u32,
    u64,
    Vary,
);

/// What changes from one request to the next.
#[derive(Clone, Copy)]
enum Vary {
    Nothing,
    /// A new bare token in the query (a cache-buster): the WAF's verdict is replayed by
    /// the query's shape.
    Query,
    /// A new search text in the query: the WAF runs.
    Search,
    UserAgent,
}

fn no_config() -> serde_json::Value {
    serde_json::json!({})
}

fn managed() -> serde_json::Value {
    serde_json::json!({ "managed": "block" })
}

const CASES: &[Case] = &[
    (
        "pass-through/fresh",
        "hostile",
        no_config,
        0,
        0,
        Vary::Nothing,
    ),
    (
        "pass-through/reused",
        "recycle",
        no_config,
        u32::MAX,
        0,
        Vary::Nothing,
    ),
    (
        "device-class/fresh",
        "device-class",
        no_config,
        0,
        0,
        Vary::Nothing,
    ),
    (
        "device-class/reused",
        "device-class",
        no_config,
        u32::MAX,
        0,
        Vary::UserAgent,
    ),
    ("waf/fresh", "waf", managed, 0, 0, Vary::Nothing),
    ("waf/reused", "waf", managed, u32::MAX, 0, Vary::Nothing),
    (
        "waf/new-query",
        "waf",
        managed,
        u32::MAX,
        10_000,
        Vary::Query,
    ),
    (
        "waf/new-search",
        "waf",
        managed,
        u32::MAX,
        10_000,
        Vary::Search,
    ),
    (
        "waf/new-user-agent",
        "waf",
        managed,
        u32::MAX,
        0,
        Vary::UserAgent,
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(name), Some(Ok(iterations))) = (args.get(1), args.get(2).map(|n| n.parse::<u64>()))
    else {
        eprintln!("usage: hook-instructions <case> <iterations>; cases:");
        for case in CASES {
            eprintln!("  {}", case.0);
        }
        return ExitCode::FAILURE;
    };
    let Some(&(_, module, config, reuse, decisions, vary)) =
        CASES.iter().find(|c| c.0 == name.as_str())
    else {
        eprintln!("unknown case {name}");
        return ExitCode::FAILURE;
    };
    let rt = wedge_benches::runtime();
    // A small pool: valgrind cannot reserve the default pool's terabytes of address space
    // (4 GiB per linear memory), and one request needs a few instances at most.
    let engine = WasmEngine::new(&EngineSettings {
        max_instances: 4,
        ..Default::default()
    })
    .expect("engine");
    // `WEDGE_FUNCTIONS_DIR` at run time: another build of the functions (A/B of guests).
    let module_path = match std::env::var_os("WEDGE_FUNCTIONS_DIR") {
        Some(dir) => wedge_tests::function_in(dir.as_ref(), module),
        None => wedge_tests::function(module),
    };
    let load = Load {
        module,
        config: config(),
        reuse,
        decisions,
    };
    let f = load.load_from(&engine, &name.replace('/', "-"), module_path);
    let id = request_id();
    let base = mobile_request();
    for n in 0..iterations {
        let mut parts = base.clone();
        match vary {
            Vary::Nothing => {}
            Vary::Query => {
                parts.uri = format!("/products/shoes?color=red&size=42&r={n}")
                    .parse()
                    .expect("uri");
            }
            Vary::Search => {
                parts.uri = format!("/products/shoes?color=red&size=42&q=red+shoes+{n}")
                    .parse()
                    .expect("uri");
            }
            Vary::UserAgent => {
                let ua = format!(
                    "Mozilla/5.0 (Linux; Android 14; SM-S918B) Chrome/117.0.{n}.0 Mobile Safari/537.36"
                );
                parts.headers.insert("user-agent", ua.parse().expect("ua"));
            }
        }
        let mut run = FunctionRun::new(f.clone(), id);
        let (_, outcome, _) = rt.block_on(run.request(Hook::ViewerRequest, view(parts)));
        if let Err(e) = outcome {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
