//! What a request hook decides, responses a function answers with, and the response
//! on its way to the viewer.

use crate::bindings::wedge::function::types as wit;
use crate::request::EditError;

/// A request hook's decision.
#[derive(Debug)]
pub enum Decision {
    /// Go on: the next function, then the cache or the origin.
    Continue,
    /// Answer the viewer with this response; later request hooks and the origin are
    /// skipped.
    Respond(Response),
}

impl Decision {
    pub(crate) fn into_wit(self) -> wit::Decision {
        match self {
            Decision::Continue => wit::Decision::Continue,
            Decision::Respond(r) => wit::Decision::Respond(wit::Synthetic {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
        }
    }
}

/// A response built by a function (a block page, a redirect, a synthetic answer).
///
/// ```
/// let r = wedge_sdk::Response::new(301).header("location", "https://example.com/");
/// assert_eq!(r.status(), 301);
/// ```
#[derive(Debug, Clone)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// A response with `status` (200–599), no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A redirect (`status` 301, 302, 307 or 308) to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Self::new(status).header("location", location)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }
}

/// The status and headers of the response on its way to the viewer, edited in place.
pub struct ResponseHead<'a> {
    inner: &'a wit::Response,
}

impl<'a> ResponseHead<'a> {
    pub(crate) fn new(inner: &'a wit::Response) -> Self {
        Self { inner }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.inner.status()
    }

    /// Replaces the status code (200–599).
    pub fn set_status(&mut self, status: u16) -> Result<(), EditError> {
        self.inner.set_status(status).map_err(Into::into)
    }

    header_methods!();
}
