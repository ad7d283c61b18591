//! Host side of the `request` resource: the guest reads and edits the request the host
//! holds, on demand, within a budget of bytes it may write.

use std::net::IpAddr;

use http::header::{HeaderName, HeaderValue};
use wasmtime::component::Resource;

use super::bindings::wedge::function::types::{HeaderError, Host, HostRequest};
use super::function::HostState;
use super::memo::Edit;

/// Headers the host manages itself: framing, hop-by-hop, and routing inputs.
const FORBIDDEN: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The request as functions see it. It is moved into the store for a hook call and
/// taken back afterwards, so no headers are copied.
#[derive(Debug)]
pub struct RequestView {
    pub parts: http::request::Parts,
    pub client_ip: IpAddr,
    pub sni: Option<String>,
    /// `"http"` or `"https"`.
    pub scheme: &'static str,
    /// Viewer host, lower-case, without port.
    pub host: String,
    /// Bytes functions have written into the request so far (names plus values).
    pub written: usize,
    /// The most `written` may reach.
    pub write_limit: usize,
}

impl RequestView {
    fn charge(&mut self, bytes: usize) -> Result<(), HeaderError> {
        let total = self.written.saturating_add(bytes);
        if total > self.write_limit {
            return Err(HeaderError::TooLarge);
        }
        self.written = total;
        Ok(())
    }

    fn header_edit(
        &mut self,
        name: &str,
        value: &str,
    ) -> Result<(HeaderName, HeaderValue), HeaderError> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| HeaderError::InvalidName)?;
        if FORBIDDEN.contains(&name.as_str()) {
            return Err(HeaderError::Forbidden);
        }
        let value = HeaderValue::from_str(value).map_err(|_| HeaderError::InvalidValue)?;
        self.charge(name.as_str().len() + value.len())?;
        Ok((name, value))
    }
}

type Res<T> = wasmtime::Result<T>;

/// The request is not kept in the resource table: a store serves exactly one request,
/// so the handle is always [`REQUEST_REP`] and the view lives in [`HostState`].
pub(crate) const REQUEST_REP: u32 = 0;

impl HostState {
    fn view(&self, r: &Resource<RequestView>) -> Res<&RequestView> {
        match &self.request {
            Some(v) if r.rep() == REQUEST_REP => Ok(v),
            _ => Err(wasmtime::format_err!(
                "request handle used outside its hook"
            )),
        }
    }

    fn view_mut(&mut self, r: &Resource<RequestView>) -> Res<&mut RequestView> {
        match &mut self.request {
            Some(v) if r.rep() == REQUEST_REP => Ok(v),
            _ => Err(wasmtime::format_err!(
                "request handle used outside its hook"
            )),
        }
    }
}

impl Host for HostState {}

impl HostState {
    /// Notes a non-header read for a recording run.
    fn read(&mut self, what: &str) {
        if let Some(rec) = &mut self.recording {
            rec.read(what);
        }
    }

    fn read_header(&mut self, name: &str) {
        if let Some(rec) = &mut self.recording {
            rec.read_header(name);
        }
    }

    fn edited(&mut self, result: &Result<Edit, HeaderError>) {
        if let Some(rec) = &mut self.recording {
            match result {
                Ok(edit) => rec.edits.push(edit.clone()),
                // A refused edit depends on the request's write budget so far.
                Err(_) => rec.read("a refused header edit"),
            }
        }
    }
}

impl HostRequest for HostState {
    fn method(&mut self, r: Resource<RequestView>) -> Res<String> {
        self.read("method");
        Ok(self.view(&r)?.parts.method.as_str().to_owned())
    }

    fn path(&mut self, r: Resource<RequestView>) -> Res<String> {
        self.read("path");
        Ok(self.view(&r)?.parts.uri.path().to_owned())
    }

    fn query(&mut self, r: Resource<RequestView>) -> Res<Option<String>> {
        self.read("query");
        Ok(self.view(&r)?.parts.uri.query().map(str::to_owned))
    }

    fn host(&mut self, r: Resource<RequestView>) -> Res<String> {
        self.read("host");
        Ok(self.view(&r)?.host.clone())
    }

    fn scheme(&mut self, r: Resource<RequestView>) -> Res<String> {
        self.read("scheme");
        Ok(self.view(&r)?.scheme.to_owned())
    }

    fn client_ip(&mut self, r: Resource<RequestView>) -> Res<String> {
        self.read("client-ip");
        Ok(self.view(&r)?.client_ip.to_string())
    }

    fn sni(&mut self, r: Resource<RequestView>) -> Res<Option<String>> {
        self.read("sni");
        Ok(self.view(&r)?.sni.clone())
    }

    fn header(&mut self, r: Resource<RequestView>, name: String) -> Res<Option<String>> {
        self.read_header(&name);
        let headers = &self.view(&r)?.parts.headers;
        Ok(headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }

    fn header_all(&mut self, r: Resource<RequestView>, name: String) -> Res<Vec<String>> {
        self.read_header(&name);
        let headers = &self.view(&r)?.parts.headers;
        Ok(headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect())
    }

    fn header_names(&mut self, r: Resource<RequestView>) -> Res<Vec<String>> {
        self.read("header-names");
        let headers = &self.view(&r)?.parts.headers;
        Ok(headers.keys().map(|k| k.as_str().to_owned()).collect())
    }

    fn set_header(
        &mut self,
        r: Resource<RequestView>,
        name: String,
        value: String,
    ) -> Res<Result<(), HeaderError>> {
        let view = self.view_mut(&r)?;
        let result = view.header_edit(&name, &value).map(|(n, v)| {
            view.parts.headers.insert(n.clone(), v.clone());
            Edit::Set(n, v)
        });
        self.edited(&result);
        Ok(result.map(|_| ()))
    }

    fn append_header(
        &mut self,
        r: Resource<RequestView>,
        name: String,
        value: String,
    ) -> Res<Result<(), HeaderError>> {
        let view = self.view_mut(&r)?;
        let result = view.header_edit(&name, &value).map(|(n, v)| {
            view.parts.headers.append(n.clone(), v.clone());
            Edit::Append(n, v)
        });
        self.edited(&result);
        Ok(result.map(|_| ()))
    }

    fn remove_header(&mut self, r: Resource<RequestView>, name: String) -> Res<()> {
        let view = self.view_mut(&r)?;
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes())
            && !FORBIDDEN.contains(&name.as_str())
        {
            view.parts.headers.remove(&name);
            self.edited(&Ok(Edit::Remove(name)));
        }
        Ok(())
    }

    fn drop(&mut self, _r: Resource<RequestView>) -> Res<()> {
        // The guest only ever borrows the request; the host takes it back after the
        // hook returns, so there is nothing to free here.
        Ok(())
    }
}
