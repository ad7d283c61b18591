//! The shared wasmtime engine: compilation settings, the pooling allocator, epochs
//! (advanced by [`super::epoch`]) and the artifact cache behind compilation.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::artifacts::ArtifactCache;
use super::instance::HostState;

/// Bytes of each linear memory restored in place rather than decommitted when an
/// instance ends.
pub(crate) const KEEP_RESIDENT: usize = 2 << 20;

/// Sizing of the instance pool.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Instances that may be alive at once (across all functions).
    pub max_instances: u32,
    /// Largest linear memory any function may be configured with.
    pub max_memory_bytes: u64,
    /// Configure functions once at load and start every instance from a snapshot of
    /// that state (see `wasm::preinit`), rather than configuring each instance.
    pub preinitialize: bool,
}

/// Instances in the pool: `WEDGE_MAX_INSTANCES=N` sets a smaller pool, for running the host
/// under valgrind, which cannot reserve the default pool's address space (4 GiB per
/// memory); anything but a positive number is refused with a warning.
fn max_instances_from_env() -> u32 {
    max_instances(std::env::var("WEDGE_MAX_INSTANCES").ok().as_deref())
}

fn max_instances(setting: Option<&str>) -> u32 {
    const DEFAULT: u32 = 512;
    let Some(value) = setting else {
        return DEFAULT;
    };
    match value.trim().parse::<u32>() {
        Ok(n) if n > 0 => n,
        _ => {
            tracing::warn!(
                "WEDGE_MAX_INSTANCES={value:?} is not a positive number of instances; using the default {DEFAULT}"
            );
            DEFAULT
        }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            max_instances: max_instances_from_env(),
            max_memory_bytes: crate::config::MAX_MEMORY_BYTES,
            preinitialize: true,
        }
    }
}

/// The engine and the linker every function is instantiated against. Cheap to clone.
#[derive(Clone)]
pub struct WasmEngine {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    preinitialize: bool,
    linker: Linker<HostState>,
    services: Arc<super::services::Services>,
    idle: Arc<super::idle::IdleBudget>,
    /// Compiled functions on disk, if there is a directory for them.
    artifacts: Option<ArtifactCache>,
    /// Component instances the pool holds at most.
    max_instances: u32,
}

/// How full the instance pool is, read for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Component instances allocated now: running or kept idle for reuse.
    pub instances: u64,
    /// Of those, idle ones kept for reuse.
    pub idle: u64,
    /// The most the pool holds (`EngineSettings::max_instances`).
    pub capacity: u64,
    /// Memory that slots no instance uses keep resident (the pages their last instance
    /// touched, restored in place for the next one).
    pub unused_resident_bytes: u64,
}

/// The program that compiles functions for this process, when there is one (see
/// [`compile_in_helper`]).
static COMPILE_HELPER: OnceLock<PathBuf> = OnceLock::new();

/// Set once the helper could not do its work: later compiles run here without trying.
static HELPER_UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// Compiles functions in a helper process from now on: `exe __compile <key> <engine>` (the
/// `wedge` binary itself), which reads the component on stdin and writes the artifact into
/// the artifact cache, where this process loads it from. The compiler needs hundreds of
/// megabytes for a large function; freed, much of that stays resident in this process's
/// heap for good (an idle `wedge dev` on an empty cache: 76–82 MB against 20 MB with the
/// artifacts cached). In a helper it is returned to the system when the helper exits. Set
/// once, by the binary; without it (embedding, tests) or without an artifact cache,
/// functions compile in-process, as they do once the helper could not run (it could not
/// start or write the cache, or it is another build whose engine differs). A component
/// the helper refuses, or that crashes it, is refused, not compiled again here.
pub fn compile_in_helper(exe: PathBuf) {
    let _ = COMPILE_HELPER.set(exe);
}

/// The helper's exit status when the component does not compile (the compiler's
/// message on stderr); any other failure is the helper's, not the component's.
const REFUSED: i32 = 3;

/// The helper's side of [`compile_in_helper`]: compiles the component on stdin with the
/// engine configuration [`WasmEngine::new`] uses and caches the artifact under `key`,
/// if its engine is the one `engine` (the caller's compatibility hash) names. Returns
/// the exit status ([`REFUSED`] for a component that does not compile).
pub fn run_compile_helper(key: &str, engine: &str) -> i32 {
    let failed = |e: &dyn std::fmt::Display, status| {
        eprintln!("{e}");
        status
    };
    let mut bytes = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes) {
        return failed(&e, 1);
    }
    let compiler = match Engine::new(&engine_config(&EngineSettings::default())) {
        Ok(compiler) => compiler,
        Err(e) => return failed(&format_args!("{e:#}"), 1),
    };
    let compatibility = compatibility(&compiler);
    if format!("{compatibility:016x}") != engine {
        return failed(&"another engine configuration than the caller's", 1);
    }
    let Some(artifacts) = ArtifactCache::from_env(compatibility) else {
        return failed(&"no artifact cache directory", 1);
    };
    let component = match Component::new(&compiler, &bytes) {
        Ok(component) => component,
        Err(e) => return failed(&format_args!("{e:#}"), REFUSED),
    };
    match component.serialize() {
        Ok(serialized) if artifacts.put(key, &serialized) => 0,
        Ok(_) => failed(&"cannot write the artifact cache", 1),
        Err(e) => failed(&format_args!("{e:#}"), 1),
    }
}

/// Why the helper produced no artifact.
enum HelperFailed {
    /// The component does not compile, or compiling it crashed the helper: the message.
    Refused(String),
    /// The helper could not do its work: compile here.
    Unavailable(String),
}

/// Runs the helper on `bytes` (see [`compile_in_helper`]).
fn compile_with(exe: &Path, key: &str, engine: u64, bytes: &[u8]) -> Result<(), HelperFailed> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let unavailable = |e: std::io::Error| HelperFailed::Unavailable(e.to_string());
    let mut child = Command::new(exe)
        .args(["__compile", key, &format!("{engine:016x}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group: a terminal's Ctrl-C or hangup meant for the server is
        // not a crash of the compiler.
        .process_group(0)
        .spawn()
        .map_err(unavailable)?;
    // Written from a thread, so a helper that fails before reading cannot block us.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let out = std::thread::scope(|scope| {
        scope.spawn(move || stdin.write_all(bytes));
        child.wait_with_output()
    })
    .map_err(unavailable)?;
    let message = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    match (out.status.code(), out.status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(REFUSED), _) => Err(HelperFailed::Refused(message)),
        // A panic or a crash: compiling it here would risk the same, in the server.
        (Some(101), _) => Err(HelperFailed::Refused(format!(
            "the compiler panicked: {message}"
        ))),
        (None, Some(signal)) => Err(HelperFailed::Refused(format!(
            "compiling it crashed the compiler (signal {signal}; out of memory?)"
        ))),
        _ => Err(HelperFailed::Unavailable(format!(
            "{}: {message}",
            out.status
        ))),
    }
}

/// The engine configuration: compilation settings (which name compatible artifacts)
/// and the pooling allocator.
fn engine_config(settings: &EngineSettings) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    // A std Rust component has a handful of core instances, memories and tables
    // (the module, the WASI adapter, shims); size the pool so each function
    // instance fits and the total is bounded.
    let n = settings.max_instances;
    pool.total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(n * 2)
        .total_tables(n * 4)
        .total_stacks(n)
        .max_memory_size(settings.max_memory_bytes as usize)
        .max_core_instances_per_component(16)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        // A fresh instance per request (the default) makes slot reuse the hot path.
        // Resetting a used slot with madvise means every page the next instance
        // touches faults again (page faults and TLB shootdowns were most of an
        // instantiation's cost). Instead keep the touched pages resident and restore
        // them with memset: with PAGEMAP_SCAN (Linux 6.7+) only the pages touched.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(64 << 10)
        .pagemap_scan(wasmtime::Enabled::Auto);

    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        .max_wasm_stack(512 << 10)
        .async_stack_size(1 << 20)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    // `WEDGE_PERF_MAP=1`: name guest functions for `perf` (/tmp/perf-<pid>.map).
    if std::env::var_os("WEDGE_PERF_MAP").is_some_and(|v| v == "1") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    // Reserve 4 GiB of address space per linear memory (plus a guard) so compiled
    // code needs no bounds checks: any 32-bit address lands in the reservation and
    // faults there. Only address space: memory is committed as a guest touches it,
    // and `StoreLimits` still caps each function's size. Checked loads cost the WAF
    // ~20 % and device-class ~11 % of a hook (criterion, reused instances).
    config.memory_reservation(4 << 30);
    config.memory_guard_size(32 << 20);
    config
}

impl WasmEngine {
    pub fn new(settings: &EngineSettings) -> anyhow::Result<Self> {
        let n = settings.max_instances;
        let engine = Engine::new(&engine_config(settings)).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        super::bindings::Function::add_to_linker::<HostState, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        super::epoch::register(&engine);
        let artifacts = ArtifactCache::from_env(compatibility(&engine));
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                preinitialize: settings.preinitialize,
                linker,
                services: Default::default(),
                // Idle instances of reusable functions may hold a quarter of the pool.
                idle: super::idle::IdleBudget::new(n as usize / 4),
                artifacts,
                max_instances: n,
            }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Whether functions that take config are pre-initialised at load.
    pub fn preinitializes(&self) -> bool {
        self.inner.preinitialize
    }

    /// Counters shared by all functions (rate limits, rule matches).
    pub fn services(&self) -> &Arc<super::services::Services> {
        &self.inner.services
    }

    /// The pool slots idle reusable instances may hold, shared by all functions.
    pub(crate) fn idle_budget(&self) -> &Arc<super::idle::IdleBudget> {
        &self.inner.idle
    }

    /// Compiles a component, or loads it from the artifact cache when these exact
    /// bytes were compiled before by a compatible engine (restarts and reloads then skip
    /// compilation; see [`ArtifactCache::from_env`] for where it is and its cap). A
    /// cache that cannot be used only costs the compile.
    pub fn compile(&self, bytes: &[u8], content_hash: &str) -> wasmtime::Result<Component> {
        match self.cached(content_hash) {
            Some(component) => Ok(component),
            None => self.compile_to_cache(content_hash, bytes),
        }
    }

    /// The artifact cached under `key` (a content hash, or a name derived from one),
    /// if a compatible engine wrote one.
    pub(crate) fn cached(&self, key: &str) -> Option<Component> {
        let path = self.inner.artifacts.as_ref()?.get(key)?;
        // SAFETY: the file was written by `Component::serialize` of this engine
        // configuration (the name carries the content key and the engine's
        // compatibility hash) into wedge's own cache directory; deserializing runs no
        // code, and wasmtime re-checks the artifact header before use.
        match unsafe { Component::deserialize_file(&self.inner.engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(
                    "ignoring unusable compiled artifact {}: {e:#}",
                    path.display()
                );
                None
            }
        }
    }

    /// Compiles `bytes` and caches the artifact under `key`: in the helper process when
    /// there is one (see [`compile_in_helper`]), else (or should it fail) here.
    pub(crate) fn compile_to_cache(&self, key: &str, bytes: &[u8]) -> wasmtime::Result<Component> {
        if let (Some(exe), Some(artifacts)) = (COMPILE_HELPER.get(), &self.inner.artifacts)
            && !HELPER_UNAVAILABLE.load(Ordering::Relaxed)
        {
            let failed = match compile_with(exe, key, artifacts.compatibility(), bytes) {
                Ok(()) => match self.cached(key) {
                    Some(component) => {
                        tracing::debug!("compiled {key} in a helper process");
                        return Ok(component);
                    }
                    None => "it left no usable artifact".to_owned(),
                },
                Err(HelperFailed::Refused(message)) => return Err(wasmtime::Error::msg(message)),
                Err(HelperFailed::Unavailable(why)) => why,
            };
            HELPER_UNAVAILABLE.store(true, Ordering::Relaxed);
            tracing::warn!(
                "cannot compile in a helper process ({failed}); compiling here from now on"
            );
        }
        let mut component = Component::new(&self.inner.engine, bytes)?;
        if let Some(artifacts) = &self.inner.artifacts
            && let Ok(serialized) = component.serialize()
        {
            artifacts.put(key, &serialized);
            // Served from the file from now on, as after a restart: its pages are the
            // file's, not anonymous memory kept resident for good.
            if let Some(mapped) = self.cached(key) {
                component = mapped;
            }
        }
        // Compiling here frees tens of megabytes the allocator would otherwise keep resident
        // (an idle `wedge dev` on a cold cache: 112 MB without this and the file-backed
        // code above, 76–82 MB with them; the rest is fragmentation, which the helper
        // process avoids: 28 MB).
        crate::trim::freed();
        Ok(component)
    }

    /// How full the instance pool is now.
    pub fn pool_usage(&self) -> PoolUsage {
        let pool = self.inner.engine.pooling_allocator_metrics();
        let resident = pool.as_ref().map_or(0, |p| {
            p.unused_memory_bytes_resident()
                + p.unused_table_bytes_resident()
                + p.unused_stack_bytes_resident().unwrap_or(0)
        });
        PoolUsage {
            instances: pool.as_ref().map_or(0, |p| p.component_instances()),
            idle: self.inner.idle.idle() as u64,
            capacity: u64::from(self.inner.max_instances),
            unused_resident_bytes: resident as u64,
        }
    }

    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.inner.linker
    }
}

/// What artifacts of this engine's configuration are named by: others cannot load them.
fn compatibility(engine: &Engine) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::max_instances;

    #[test]
    fn the_pool_size_setting_takes_positive_numbers_only() {
        assert_eq!(max_instances(None), 512);
        assert_eq!(max_instances(Some("6")), 6);
        assert_eq!(max_instances(Some(" 12 ")), 12);
        assert_eq!(max_instances(Some("0")), 512);
        assert_eq!(max_instances(Some("six")), 512);
        assert_eq!(max_instances(Some("-3")), 512);
    }
}
