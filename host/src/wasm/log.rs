//! Host side of the `log` interface: guest log lines go to the host's tracing log,
//! tagged with the function and request.

use super::bindings::wedge::function::log::{Host, Level};
use super::instance::HostState;

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
        let function = self.function.as_str();
        let request_id = tracing::field::display(self.request_id);
        match level {
            Level::Trace => tracing::trace!(function, request_id, "{message}"),
            Level::Debug => tracing::debug!(function, request_id, "{message}"),
            Level::Info => tracing::info!(function, request_id, "{message}"),
            Level::Warn => tracing::warn!(function, request_id, "{message}"),
            Level::Error => tracing::error!(function, request_id, "{message}"),
        }
        Ok(())
    }
}
