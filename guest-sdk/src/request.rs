//! The viewer's request, read and edited through the host.

use crate::bindings::wedge::function::types as wit;

/// Why the host refused an edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditError {
    /// Not a valid HTTP field name.
    InvalidName,
    /// Not a valid HTTP field value, path, query or status.
    InvalidValue,
    /// The field is managed by the host (`host`, `content-length`, hop-by-hop headers).
    Forbidden,
    /// The function has written more bytes than its limit.
    TooLarge,
    /// This part cannot be edited in this hook.
    NotHere,
}

impl core::fmt::Display for EditError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            EditError::InvalidName => "invalid header name",
            EditError::InvalidValue => "invalid value",
            EditError::Forbidden => "managed by the host",
            EditError::TooLarge => "write limit reached",
            EditError::NotHere => "not editable in this hook",
        })
    }
}

impl From<wit::EditError> for EditError {
    fn from(e: wit::EditError) -> Self {
        match e {
            wit::EditError::InvalidName => EditError::InvalidName,
            wit::EditError::InvalidValue => EditError::InvalidValue,
            wit::EditError::Forbidden => EditError::Forbidden,
            wit::EditError::TooLarge => EditError::TooLarge,
            wit::EditError::NotHere => EditError::NotHere,
        }
    }
}

/// Logs a refused edit; for the methods that do not return the error.
pub(crate) fn log_refused(what: &str, name: &str, e: EditError) {
    crate::log::warn(&format!("{what}({name}) refused: {e}"));
}

/// The request as the host holds it. Reads fetch exactly what is asked for; edits are
/// applied at once and seen by later functions and by the origin.
pub struct Request<'a> {
    inner: &'a wit::Request,
}

impl<'a> Request<'a> {
    pub(crate) fn new(inner: &'a wit::Request) -> Self {
        Self { inner }
    }

    /// The method, upper-case (`GET`).
    pub fn method(&self) -> String {
        self.inner.method()
    }

    /// The path without the query string, as received.
    pub fn path(&self) -> String {
        self.inner.path()
    }

    /// The query string without `?`, if any.
    pub fn query(&self) -> Option<String> {
        self.inner.query()
    }

    /// The host the viewer asked for, lower-case, without port.
    pub fn host(&self) -> String {
        self.inner.host()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> String {
        self.inner.scheme()
    }

    /// The viewer's IP address as text.
    pub fn client_ip(&self) -> String {
        self.inner.client_ip()
    }

    /// The TLS server name (SNI) the viewer sent, if any.
    pub fn sni(&self) -> Option<String> {
        self.inner.sni()
    }

    header_methods!();

    /// Method, path, query, host and every header in one host call, read in place: for a
    /// function that needs all of them (a WAF), one crossing and one string instead of
    /// five of each. For decision reuse it reads `:method`, `:path`, `:query`, `:host`
    /// and `:headers`: a function that declares fewer inputs should read them one by one.
    pub fn head(&self) -> crate::RequestHead {
        crate::RequestHead::new(self.inner.head_block())
    }

    /// The start of the request body, up to the function's `inspect_body_kb` in the
    /// host config; `None` when the host was not asked to buffer it for this function.
    pub fn body(&self) -> Option<Vec<u8>> {
        self.inner.body()
    }

    /// Rewrites the path sent to the origin (must start with `/`; routing is not redone).
    pub fn set_path(&mut self, path: &str) -> Result<(), EditError> {
        self.inner.set_path(path).map_err(Into::into)
    }

    /// Rewrites the query string sent to the origin (`None` removes it).
    pub fn set_query(&mut self, query: Option<&str>) -> Result<(), EditError> {
        self.inner.set_query(query).map_err(Into::into)
    }

    /// Tells the host not to store this run's outcome for other requests with the same
    /// declared inputs: call it when the outcome depends on something the declaration
    /// counts as the same (which bare token a parameter holds, under `:query-shape`).
    /// Whether you call it must depend only on what the declaration keys on (the
    /// parameter names, say): an outcome stored for the same key by a run that did not
    /// call it is still replayed. Does nothing outside a recorded run.
    pub fn do_not_reuse(&self) {
        self.inner.do_not_reuse();
    }
}
