//! The viewer's request, read and edited through the host.

use crate::bindings::wedge::function::types as wit;

/// Why the host refused a header edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Not a valid HTTP field name.
    InvalidName,
    /// Not a valid HTTP field value (control characters, line breaks).
    InvalidValue,
    /// The header is managed by the host (`host`, `content-length`, hop-by-hop headers).
    Forbidden,
    /// The function has written more header bytes than its limit.
    TooLarge,
}

impl core::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            HeaderError::InvalidName => "invalid header name",
            HeaderError::InvalidValue => "invalid header value",
            HeaderError::Forbidden => "header is managed by the host",
            HeaderError::TooLarge => "header write limit reached",
        })
    }
}

impl From<wit::HeaderError> for HeaderError {
    fn from(e: wit::HeaderError) -> Self {
        match e {
            wit::HeaderError::InvalidName => HeaderError::InvalidName,
            wit::HeaderError::InvalidValue => HeaderError::InvalidValue,
            wit::HeaderError::Forbidden => HeaderError::Forbidden,
            wit::HeaderError::TooLarge => HeaderError::TooLarge,
        }
    }
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

    /// First value of a header (case-insensitive name), if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<String> {
        self.inner.header(name)
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.inner.header_all(name)
    }

    /// Names of the headers present, lower-case.
    pub fn header_names(&self) -> Vec<String> {
        self.inner.header_names()
    }

    /// Sets a header, replacing any values. A refused edit is logged to the host log;
    /// use [`Request::try_set_header`] to handle it yourself.
    pub fn set_header(&mut self, name: &str, value: &str) {
        if let Err(e) = self.try_set_header(name, value) {
            crate::log::warn(&format!("set_header({name}) refused: {e}"));
        }
    }

    /// Sets a header, replacing any values, reporting a refused edit.
    pub fn try_set_header(&mut self, name: &str, value: &str) -> Result<(), HeaderError> {
        self.inner.set_header(name, value).map_err(Into::into)
    }

    /// Adds a header value, keeping existing ones. A refused edit is logged.
    pub fn append_header(&mut self, name: &str, value: &str) {
        if let Err(e) = self.inner.append_header(name, value) {
            crate::log::warn(&format!(
                "append_header({name}) refused: {}",
                HeaderError::from(e)
            ));
        }
    }

    /// Removes every value of a header.
    pub fn remove_header(&mut self, name: &str) {
        self.inner.remove_header(name)
    }
}
