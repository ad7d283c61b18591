//! Host side of the `response` resource: response hooks read and edit the status and
//! headers of the response on its way to the viewer, within a write budget.

use http::StatusCode;
use http::header::{HeaderName, HeaderValue};
use wasmtime::component::Resource;

use super::bindings::wedge::function::types::{EditError, HostResponse};
use super::headers;
use super::instance::HostState;
use super::memo::Edit;

/// The handle of the one response a store ever sees (kept in [`HostState`]).
pub(crate) const RESPONSE_REP: u32 = 0;

/// A response's status and headers as functions see them.
#[derive(Debug)]
pub struct ResponseView {
    pub parts: http::response::Parts,
    pub written: usize,
    pub write_limit: usize,
}

impl ResponseView {
    pub fn new(parts: http::response::Parts) -> Self {
        Self {
            parts,
            written: 0,
            write_limit: super::function::DEFAULT_WRITE_LIMIT,
        }
    }

    /// Gives the next hook `bytes` more to write.
    pub(crate) fn allow(mut self, bytes: usize) -> Self {
        self.write_limit = self.written.saturating_add(bytes);
        self
    }

    fn header_edit(
        &mut self,
        name: &str,
        value: String,
    ) -> Result<(HeaderName, HeaderValue), EditError> {
        headers::checked_edit(name, value, false, &mut self.written, self.write_limit)
    }
}

type Res<T> = wasmtime::Result<T>;

impl HostState {
    fn resp(&mut self, r: &Resource<ResponseView>) -> Res<&mut ResponseView> {
        match &mut self.response {
            Some(v) if r.rep() == RESPONSE_REP => Ok(v),
            _ => Err(wasmtime::format_err!(
                "response handle used outside its hook"
            )),
        }
    }
}

impl HostResponse for HostState {
    // A recorded response hook may not depend on the response itself: reads taint.
    fn status(&mut self, r: Resource<ResponseView>) -> Res<u16> {
        self.taint("the response status");
        Ok(self.resp(&r)?.parts.status.as_u16())
    }

    fn set_status(&mut self, r: Resource<ResponseView>, status: u16) -> Res<Result<(), EditError>> {
        let view = self.resp(&r)?;
        let result = match StatusCode::from_u16(status) {
            Ok(s) if (200..=599).contains(&status) => {
                view.parts.status = s;
                Ok(Edit::Status(s))
            }
            _ => Err(EditError::InvalidValue),
        };
        self.edited(&result);
        Ok(result.map(|_| ()))
    }

    fn header(&mut self, r: Resource<ResponseView>, name: String) -> Res<Option<String>> {
        self.taint("a response header");
        Ok(headers::first(&self.resp(&r)?.parts.headers, &name))
    }

    fn header_each(
        &mut self,
        r: Resource<ResponseView>,
        names: String,
    ) -> Res<Vec<Option<String>>> {
        self.taint("a response header");
        Ok(headers::first_each(&self.resp(&r)?.parts.headers, &names))
    }

    fn header_all(&mut self, r: Resource<ResponseView>, name: String) -> Res<Vec<String>> {
        self.taint("a response header");
        Ok(headers::all(&self.resp(&r)?.parts.headers, &name))
    }

    fn header_names(&mut self, r: Resource<ResponseView>) -> Res<Vec<String>> {
        self.taint("the response header names");
        Ok(headers::names(&self.resp(&r)?.parts.headers))
    }

    fn headers(&mut self, r: Resource<ResponseView>) -> Res<Vec<(String, String)>> {
        self.taint("the response headers");
        Ok(headers::pairs(&self.resp(&r)?.parts.headers))
    }

    fn header_block(&mut self, r: Resource<ResponseView>) -> Res<String> {
        self.taint("the response headers");
        Ok(headers::block(&self.resp(&r)?.parts.headers))
    }

    fn set_header(
        &mut self,
        r: Resource<ResponseView>,
        name: String,
        value: String,
    ) -> Res<Result<(), EditError>> {
        let result = self.resp(&r)?.header_edit(&name, value);
        self.edited_header(&result, Edit::Set);
        let view = self.resp(&r)?;
        Ok(result.map(|(n, v)| {
            view.parts.headers.insert(n, v);
        }))
    }

    fn set_header_block(
        &mut self,
        r: Resource<ResponseView>,
        block: String,
    ) -> Res<Result<(), (u32, EditError)>> {
        headers::set_lines(&block, |name, value| {
            HostResponse::set_header(self, Resource::new_borrow(r.rep()), name, value)
        })
    }

    fn append_header(
        &mut self,
        r: Resource<ResponseView>,
        name: String,
        value: String,
    ) -> Res<Result<(), EditError>> {
        let result = self.resp(&r)?.header_edit(&name, value);
        self.edited_header(&result, Edit::Append);
        let view = self.resp(&r)?;
        Ok(result.map(|(n, v)| {
            view.parts.headers.append(n, v);
        }))
    }

    fn remove_header(&mut self, r: Resource<ResponseView>, name: String) -> Res<()> {
        let view = self.resp(&r)?;
        if let Some(name) = headers::removable(&name, false) {
            view.parts.headers.remove(&name);
            self.edited(&Ok(Edit::Remove(name)));
        }
        Ok(())
    }

    fn drop(&mut self, _r: Resource<ResponseView>) -> Res<()> {
        Ok(())
    }
}
