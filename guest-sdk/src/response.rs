//! What a hook decides, and responses a function answers with.

use crate::bindings::wedge::function::types as wit;

/// A request hook's decision.
#[derive(Debug)]
pub enum Decision {
    /// Go on: the next function, then the cache or the origin.
    Continue,
    /// Answer the viewer with this response; later functions and the origin are skipped.
    Respond(Response),
}

impl Decision {
    pub(crate) fn into_wit(self) -> wit::Decision {
        match self {
            Decision::Continue => wit::Decision::Continue,
            Decision::Respond(r) => wit::Decision::Respond(wit::Response {
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
