//! Host side of the `request` resource: the guest reads and edits the request the host
//! holds, on demand, within a budget of bytes it may write.

use std::net::IpAddr;

use http::header::{HeaderName, HeaderValue};
use wasmtime::component::Resource;

use super::bindings::wedge::function::types::{EditError, Host, HostRequest};
use super::headers;
use super::instance::HostState;
use super::memo::{Edit, Part};

/// The request as functions see it. It is moved into the store for a hook call and
/// taken back afterwards, so no headers are copied; boxed, so that each of those moves
/// (and each through the request's futures, which hold it in several states) is a
/// pointer, not its ~350 bytes.
#[derive(Debug)]
pub struct RequestView(Box<RequestState>);

/// What a [`RequestView`] holds.
#[derive(Debug)]
pub struct RequestState {
    pub parts: http::request::Parts,
    pub client_ip: IpAddr,
    pub sni: Option<std::sync::Arc<str>>,
    /// `"http"` or `"https"`.
    pub scheme: &'static str,
    /// Viewer host, lower-case, without port.
    pub host: String,
    /// Bytes functions have written into the request so far (names plus values).
    pub written: usize,
    /// The most `written` may reach.
    pub write_limit: usize,
    /// Whether the current hook may edit the request (request hooks only).
    pub(crate) editable: bool,
    /// The start of the body, buffered when a function of the behavior inspects it.
    pub body_prefix: Option<bytes::Bytes>,
}

impl std::ops::Deref for RequestView {
    type Target = RequestState;

    fn deref(&self) -> &RequestState {
        &self.0
    }
}

impl std::ops::DerefMut for RequestView {
    fn deref_mut(&mut self) -> &mut RequestState {
        &mut self.0
    }
}

impl RequestView {
    /// A view of `parts` for functions, with the default write budget.
    pub fn new(
        parts: http::request::Parts,
        client_ip: IpAddr,
        sni: Option<std::sync::Arc<str>>,
        scheme: &'static str,
        host: String,
    ) -> Self {
        Self(Box::new(RequestState {
            parts,
            client_ip,
            sni,
            scheme,
            host,
            written: 0,
            write_limit: super::function::DEFAULT_WRITE_LIMIT,
            editable: true,
            body_prefix: None,
        }))
    }

    /// The request head, for sending on.
    pub fn into_parts(self) -> http::request::Parts {
        self.0.parts
    }

    /// A copy without the body-related extensions, for hooks that run after the
    /// original went to the origin.
    pub(crate) fn head_copy(&self) -> RequestView {
        let mut copy = http::Request::new(());
        *copy.method_mut() = self.parts.method.clone();
        *copy.uri_mut() = self.parts.uri.clone();
        *copy.version_mut() = self.parts.version;
        *copy.headers_mut() = self.parts.headers.clone();
        RequestView(Box::new(RequestState {
            parts: copy.into_parts().0,
            client_ip: self.client_ip,
            sni: self.sni.clone(),
            scheme: self.scheme,
            host: self.host.clone(),
            written: self.written,
            write_limit: self.write_limit,
            editable: false,
            body_prefix: self.body_prefix.clone(),
        }))
    }

    /// `head-block`: `<method> <path>[?<query>] <host>` and a newline, then the header
    /// block. The path and query are `path` and `query` exactly (`/` for an
    /// absolute-form target without one); none of the three holds a space (the URI and
    /// authority parsers refuse them).
    pub(crate) fn head_block(&self) -> String {
        let method = self.parts.method.as_str();
        let path = self.parts.uri.path();
        let query = self.parts.uri.query();
        let mut out = String::with_capacity(
            method.len()
                + path.len()
                + query.map_or(0, |q| q.len() + 1)
                + self.host.len()
                + 3
                + self.parts.headers.len() * 32,
        );
        for part in [method, " ", path] {
            out.push_str(part);
        }
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        for part in [" ", &self.host, "\n"] {
            out.push_str(part);
        }
        headers::block_into(&mut out, &self.parts.headers);
        out
    }

    /// Gives the next hook `bytes` more to write, whatever earlier functions wrote.
    pub(crate) fn allow(mut self, bytes: usize) -> Self {
        self.write_limit = self.written.saturating_add(bytes);
        self
    }

    pub(crate) fn editable(mut self) -> Self {
        self.editable = true;
        self
    }

    pub(crate) fn read_only(mut self) -> Self {
        self.editable = false;
        self
    }

    fn check_editable(&self) -> Result<(), EditError> {
        if self.editable {
            Ok(())
        } else {
            Err(EditError::NotHere)
        }
    }

    fn set_path_and_query(&mut self, path: &str, query: Option<&str>) -> Result<(), EditError> {
        self.check_editable()?;
        if !path.starts_with('/') {
            return Err(EditError::InvalidValue);
        }
        let pq = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let pq: http::uri::PathAndQuery = pq.parse().map_err(|_| EditError::InvalidValue)?;
        self.charge(pq.as_str().len())?;
        let mut parts = std::mem::take(&mut self.parts.uri).into_parts();
        parts.path_and_query = Some(pq);
        self.parts.uri = http::Uri::from_parts(parts).map_err(|_| EditError::InvalidValue)?;
        Ok(())
    }

    fn charge(&mut self, bytes: usize) -> Result<(), EditError> {
        let state = &mut *self.0;
        headers::charge(&mut state.written, state.write_limit, bytes)
    }

    fn header_edit(
        &mut self,
        name: &str,
        value: String,
    ) -> Result<(HeaderName, HeaderValue), EditError> {
        self.check_editable()?;
        let state = &mut *self.0;
        headers::checked_edit(name, value, true, &mut state.written, state.write_limit)
    }
}

type Res<T> = wasmtime::Result<T>;

/// The request is not kept in the resource table: a store serves one request at a time,
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
    /// Notes a read of a request part for a recording run.
    fn read_part(&mut self, part: Part) {
        if let Some(rec) = &mut self.recording {
            rec.read_part(part);
        }
    }

    /// Notes, for a recording run, something its declared inputs cannot cover.
    pub(super) fn taint(&mut self, what: &'static str) {
        if let Some(rec) = &mut self.recording {
            rec.taint(what);
        }
    }

    fn read_header(&mut self, name: &str) {
        if let Some(rec) = &mut self.recording {
            rec.read_header(name);
        }
    }

    /// Notes an edit (request or response) for a recording run.
    pub(super) fn edited(&mut self, result: &Result<Edit, EditError>) {
        if let Some(rec) = &mut self.recording {
            match result {
                Ok(edit) => rec.edits.push(edit.clone()),
                // A refused edit depends on the write budget spent so far.
                Err(_) => rec.taint("a refused edit"),
            }
        }
    }

    /// [`HostState::edited`] for a header edit, copied (as `edit`) only when a run records.
    pub(super) fn edited_header(
        &mut self,
        result: &Result<(HeaderName, HeaderValue), EditError>,
        edit: fn(HeaderName, HeaderValue) -> Edit,
    ) {
        if self.recording.is_some() {
            self.edited(
                &result
                    .as_ref()
                    .map(|(n, v)| edit(n.clone(), v.clone()))
                    .map_err(|e| *e),
            );
        }
    }
}

impl HostRequest for HostState {
    fn method(&mut self, r: Resource<RequestView>) -> Res<String> {
        self.read_part(Part::Method);
        Ok(self.view(&r)?.parts.method.as_str().to_owned())
    }

    fn path(&mut self, r: Resource<RequestView>) -> Res<String> {
        self.read_part(Part::Path);
        Ok(self.view(&r)?.parts.uri.path().to_owned())
    }

    fn query(&mut self, r: Resource<RequestView>) -> Res<Option<String>> {
        self.read_part(Part::Query);
        Ok(self.view(&r)?.parts.uri.query().map(str::to_owned))
    }

    fn host(&mut self, r: Resource<RequestView>) -> Res<String> {
        self.read_part(Part::Host);
        Ok(self.view(&r)?.host.clone())
    }

    fn scheme(&mut self, r: Resource<RequestView>) -> Res<String> {
        self.read_part(Part::Scheme);
        Ok(self.view(&r)?.scheme.to_owned())
    }

    fn client_ip(&mut self, r: Resource<RequestView>) -> Res<String> {
        self.read_part(Part::ClientIp);
        Ok(self.view(&r)?.client_ip.to_string())
    }

    fn sni(&mut self, r: Resource<RequestView>) -> Res<Option<String>> {
        self.read_part(Part::Sni);
        Ok(self.view(&r)?.sni.as_deref().map(str::to_owned))
    }

    fn body(&mut self, r: Resource<RequestView>) -> Res<Option<Vec<u8>>> {
        self.read_part(Part::Body);
        let limit = self.inspect_body;
        if limit == 0 {
            return Ok(None);
        }
        let prefix = self.view(&r)?.body_prefix.as_ref();
        Ok(Some(prefix.map_or_else(Vec::new, |b| {
            b[..b.len().min(limit)].to_vec()
        })))
    }

    fn header(&mut self, r: Resource<RequestView>, name: String) -> Res<Option<String>> {
        self.read_header(&name);
        Ok(headers::first(&self.view(&r)?.parts.headers, &name))
    }

    fn header_each(&mut self, r: Resource<RequestView>, names: String) -> Res<Vec<Option<String>>> {
        if self.recording.is_some() {
            for name in names.split('\n') {
                self.read_header(name);
            }
        }
        Ok(headers::first_each(&self.view(&r)?.parts.headers, &names))
    }

    fn header_all(&mut self, r: Resource<RequestView>, name: String) -> Res<Vec<String>> {
        self.read_header(&name);
        Ok(headers::all(&self.view(&r)?.parts.headers, &name))
    }

    fn header_names(&mut self, r: Resource<RequestView>) -> Res<Vec<String>> {
        self.read_part(Part::Headers);
        Ok(headers::names(&self.view(&r)?.parts.headers))
    }

    fn headers(&mut self, r: Resource<RequestView>) -> Res<Vec<(String, String)>> {
        self.read_part(Part::Headers);
        Ok(headers::pairs(&self.view(&r)?.parts.headers))
    }

    fn header_block(&mut self, r: Resource<RequestView>) -> Res<String> {
        self.read_part(Part::Headers);
        Ok(headers::block(&self.view(&r)?.parts.headers))
    }

    fn head_block(&mut self, r: Resource<RequestView>) -> Res<String> {
        for part in [
            Part::Method,
            Part::Path,
            Part::Query,
            Part::Host,
            Part::Headers,
        ] {
            self.read_part(part);
        }
        Ok(self.view(&r)?.head_block())
    }

    fn set_header(
        &mut self,
        r: Resource<RequestView>,
        name: String,
        value: String,
    ) -> Res<Result<(), EditError>> {
        let result = self.view_mut(&r)?.header_edit(&name, value);
        self.edited_header(&result, Edit::Set);
        let view = self.view_mut(&r)?;
        Ok(result.map(|(n, v)| {
            view.parts.headers.insert(n, v);
        }))
    }

    fn set_header_block(
        &mut self,
        r: Resource<RequestView>,
        block: String,
    ) -> Res<Result<(), (u32, EditError)>> {
        headers::set_lines(&block, |name, value| {
            HostRequest::set_header(self, Resource::new_borrow(r.rep()), name, value)
        })
    }

    fn append_header(
        &mut self,
        r: Resource<RequestView>,
        name: String,
        value: String,
    ) -> Res<Result<(), EditError>> {
        let result = self.view_mut(&r)?.header_edit(&name, value);
        self.edited_header(&result, Edit::Append);
        let view = self.view_mut(&r)?;
        Ok(result.map(|(n, v)| {
            view.parts.headers.append(n, v);
        }))
    }

    fn remove_header(&mut self, r: Resource<RequestView>, name: String) -> Res<()> {
        let view = self.view_mut(&r)?;
        if view.editable
            && let Some(name) = headers::removable(&name, true)
        {
            view.parts.headers.remove(&name);
            self.edited(&Ok(Edit::Remove(name)));
        }
        Ok(())
    }

    fn set_path(&mut self, r: Resource<RequestView>, path: String) -> Res<Result<(), EditError>> {
        // A rewritten request no longer depends only on the declared inputs' replay.
        self.taint("set-path");
        let view = self.view_mut(&r)?;
        let query = view.parts.uri.query().map(str::to_owned);
        Ok(view.set_path_and_query(&path, query.as_deref()))
    }

    fn set_query(
        &mut self,
        r: Resource<RequestView>,
        query: Option<String>,
    ) -> Res<Result<(), EditError>> {
        self.taint("set-query");
        let view = self.view_mut(&r)?;
        let path = view.parts.uri.path().to_owned();
        Ok(view.set_path_and_query(&path, query.as_deref()))
    }

    fn do_not_reuse(&mut self, _r: Resource<RequestView>) -> Res<()> {
        // Like a rate-limit answer: not a mistake in the declaration, so nothing is
        // logged; the outcome is just not stored.
        if let Some(rec) = &mut self.recording {
            rec.volatile = true;
        }
        Ok(())
    }

    fn drop(&mut self, _r: Resource<RequestView>) -> Res<()> {
        // The guest only ever borrows the request; the host takes it back after the
        // hook returns, so there is nothing to free here.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::RequestView;

    fn view(uri: &str, headers: &[(&str, &str)]) -> RequestView {
        let mut req = http::Request::post(uri);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let parts = req.body(()).unwrap().into_parts().0;
        RequestView::new(
            parts,
            [192, 0, 2, 1].into(),
            None,
            "https",
            "shop.test".into(),
        )
    }

    #[test]
    fn the_head_block_is_the_request_line_then_the_header_block() {
        let v = view(
            "/a%20b?q=1&x=",
            &[("accept", "*/*"), ("x-raw", "caf\u{e9}"), ("cookie", "a=1")],
        );
        // The non-ASCII value is left out, as from `header-block`.
        assert_eq!(
            v.head_block(),
            "POST /a%20b?q=1&x= shop.test\naccept:*/*\ncookie:a=1\n"
        );
        // An empty query keeps its `?`; no headers, no header lines.
        assert_eq!(view("/p?", &[]).head_block(), "POST /p? shop.test\n");
        // An absolute-form target reads as `path` and `query` do.
        assert_eq!(
            view("http://shop.test?x=1", &[]).head_block(),
            "POST /?x=1 shop.test\n"
        );
    }
}
