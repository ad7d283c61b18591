//! The one place that maps request failures to HTTP answers.

use http::StatusCode;

use crate::wasm::FunctionError;

/// Why the edge answered a request itself instead of with the origin's response.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("no distribution serves host `{0}`")]
    UnknownHost(String),
    #[error("request has no host")]
    MissingHost,
    #[error("request has more than one Host header")]
    DuplicateHost,
    #[error("method {0} is not served")]
    MethodNotAllowed(http::Method),
    #[error("origin pool `{0}` has no healthy member")]
    NoHealthyOrigin(String),
    #[error("origin pool `{0}`: every available member is at its request limit")]
    OriginBusy(String),
    #[error("origin {origin}: cannot connect: {message}")]
    OriginConnect { origin: String, message: String },
    #[error("origin {origin} failed: {message}")]
    Origin { origin: String, message: String },
    #[error("origin {origin} sent no response head in time")]
    OriginTimeout { origin: String },
    #[error("the viewer's request body {}", if *.stalled { "stalled" } else { "broke off" })]
    ViewerBody { stalled: bool },
    #[error("{0}")]
    FunctionFailed(#[source] FunctionError),
    #[error("{0}")]
    FunctionBlocked(#[source] FunctionError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl RequestError {
    /// The status the viewer receives for this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            RequestError::UnknownHost(_) => StatusCode::MISDIRECTED_REQUEST,
            RequestError::MissingHost | RequestError::DuplicateHost => StatusCode::BAD_REQUEST,
            RequestError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            RequestError::NoHealthyOrigin(_) => StatusCode::SERVICE_UNAVAILABLE,
            RequestError::OriginBusy(_) => StatusCode::SERVICE_UNAVAILABLE,
            RequestError::OriginConnect { .. } => StatusCode::BAD_GATEWAY,
            RequestError::Origin { .. } => StatusCode::BAD_GATEWAY,
            RequestError::OriginTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            RequestError::ViewerBody { stalled: true } => StatusCode::REQUEST_TIMEOUT,
            RequestError::ViewerBody { stalled: false } => StatusCode::BAD_REQUEST,
            RequestError::FunctionFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            RequestError::FunctionBlocked(_) => StatusCode::SERVICE_UNAVAILABLE,
            RequestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the origin could not give an answer (unreachable, failed, too slow):
    /// the failures a stale cached response may stand in for.
    pub fn is_origin_failure(&self) -> bool {
        matches!(
            self,
            RequestError::NoHealthyOrigin(_)
                | RequestError::OriginBusy(_)
                | RequestError::OriginConnect { .. }
                | RequestError::Origin { .. }
                | RequestError::OriginTimeout { .. }
        )
    }

    /// A short, stable reason for the `x-wedge-error` header and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            RequestError::UnknownHost(_) => "unknown-host",
            RequestError::MissingHost => "missing-host",
            RequestError::DuplicateHost => "duplicate-host",
            RequestError::MethodNotAllowed(_) => "method-not-allowed",
            RequestError::NoHealthyOrigin(_) => "no-healthy-origin",
            RequestError::OriginBusy(_) => "origin-overloaded",
            RequestError::OriginConnect { .. } => "origin-connect-error",
            RequestError::Origin { .. } => "origin-error",
            RequestError::OriginTimeout { .. } => "origin-timeout",
            RequestError::ViewerBody { stalled: true } => "request-body-timeout",
            RequestError::ViewerBody { stalled: false } => "request-body-error",
            RequestError::FunctionFailed(_) => "function-error",
            RequestError::FunctionBlocked(_) => "function-blocked",
            RequestError::Internal(_) => "internal",
        }
    }
}
