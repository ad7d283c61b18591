//! Host side of the `log` interface: guest log lines go to the host's tracing log,
//! tagged with the function and request.

use super::bindings::wedge::function::log::{Host, Level};
use super::instance::HostState;
use super::memo::Effect;
use crate::config::FunctionId;
use crate::util::RequestId;

/// Longest message kept from one log call; the rest is cut so a chatty guest cannot
/// flood the host log.
const MAX_MESSAGE: usize = 4096;

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let mut message = message;
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        emit(&self.function, self.request_id, level, &message);
        if let Some(rec) = &mut self.recording {
            rec.effect(Effect::Log(level, message));
        }
        Ok(())
    }
}

/// Writes one function log line (a live call's, or a replayed outcome's).
pub(crate) fn emit(function: &FunctionId, request_id: RequestId, level: Level, message: &str) {
    let function = function.as_str();
    let request_id = tracing::field::display(request_id);
    match level {
        Level::Trace => tracing::trace!(function, request_id, "{message}"),
        Level::Debug => tracing::debug!(function, request_id, "{message}"),
        Level::Info => tracing::info!(function, request_id, "{message}"),
        Level::Warn => tracing::warn!(function, request_id, "{message}"),
        Level::Error => tracing::error!(function, request_id, "{message}"),
    }
}
