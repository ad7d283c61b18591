//! A function's hook exports: found by index once per component, and looked up and
//! type-checked in an instance only when that instance first calls them. The generated
//! bindings look up and type-check every export as each instance starts, which a fresh
//! instance per request paid seven times over for the one hook it usually runs.

use wasmtime::AsContextMut;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Instance, Lift, Lower, Resource, TypedFunc,
};

use super::bindings::wedge::function::types::{ConfigError, Decision};
use super::function::Hook;
use super::request::RequestView;
use super::response::ResponseView;

/// The interface every function exports (`wit/wedge.wit`).
const HOOKS: &str = "wedge:function/hooks@0.3.4";

/// Where each hook export sits in one component (valid for all its instances).
#[derive(Clone, Copy)]
pub(crate) struct HookIndices {
    configure: ComponentExportIndex,
    viewer_request: ComponentExportIndex,
    cache_key: ComponentExportIndex,
    origin_request: ComponentExportIndex,
    origin_response: ComponentExportIndex,
    viewer_response: ComponentExportIndex,
}

impl HookIndices {
    /// The hook exports of `component`. (Their types are checked when the function is
    /// described at load, and again by each instance on first use.)
    pub(crate) fn new(component: &Component) -> Result<Self, String> {
        let hooks = component
            .get_export_index(None, HOOKS)
            .ok_or_else(|| format!("the component does not export `{HOOKS}`"))?;
        let find = |name: &str| {
            component
                .get_export_index(Some(&hooks), name)
                .ok_or_else(|| format!("`{HOOKS}` has no `{name}` export"))
        };
        Ok(Self {
            configure: find("configure")?,
            viewer_request: find("on-viewer-request")?,
            cache_key: find("cache-key")?,
            origin_request: find("on-origin-request")?,
            origin_response: find("on-origin-response")?,
            viewer_response: find("on-viewer-response")?,
        })
    }
}

type RequestHook = TypedFunc<(Resource<RequestView>,), (Decision,)>;
type KeyHook = TypedFunc<(Resource<RequestView>,), (Option<String>,)>;
type ResponseHook = TypedFunc<(Resource<RequestView>, Resource<ResponseView>), ()>;

/// One export of one instance: where it is, and the function once looked up.
struct Lazy<F> {
    index: ComponentExportIndex,
    func: Option<F>,
}

impl<P, R> Lazy<TypedFunc<P, R>>
where
    P: ComponentNamedList + Lower,
    R: ComponentNamedList + Lift,
{
    fn new(index: ComponentExportIndex) -> Self {
        Self { index, func: None }
    }

    /// Calls the function, looked up and type-checked in `instance` on its first call.
    async fn call<S>(&mut self, instance: &Instance, mut store: S, params: P) -> wasmtime::Result<R>
    where
        S: AsContextMut,
        S::Data: Send,
        R: 'static,
    {
        let f = match self.func {
            Some(f) => f,
            None => *self
                .func
                .insert(instance.get_typed_func::<P, R>(&mut store, &self.index)?),
        };
        f.call_async(&mut store, params).await
    }
}

/// One instance's hooks, each looked up the first time it is called and kept for the
/// instance's later requests.
pub(crate) struct Exports {
    instance: Instance,
    configure: ComponentExportIndex,
    viewer_request: Lazy<RequestHook>,
    origin_request: Lazy<RequestHook>,
    cache_key: Lazy<KeyHook>,
    origin_response: Lazy<ResponseHook>,
    viewer_response: Lazy<ResponseHook>,
}

impl Exports {
    pub(crate) fn new(instance: Instance, at: HookIndices) -> Self {
        Self {
            instance,
            configure: at.configure,
            viewer_request: Lazy::new(at.viewer_request),
            origin_request: Lazy::new(at.origin_request),
            cache_key: Lazy::new(at.cache_key),
            origin_response: Lazy::new(at.origin_response),
            viewer_response: Lazy::new(at.viewer_response),
        }
    }

    /// `configure` (once per instance, so not kept).
    pub(crate) async fn configure<S>(
        &self,
        mut store: S,
        config: &str,
    ) -> wasmtime::Result<Result<(), ConfigError>>
    where
        S: AsContextMut,
        S::Data: Send,
    {
        let f = self
            .instance
            .get_typed_func::<(&str,), (Result<(), ConfigError>,)>(&mut store, &self.configure)?;
        let (result,) = f.call_async(&mut store, (config,)).await?;
        Ok(result)
    }

    /// `on-viewer-request` or `on-origin-request`.
    pub(crate) async fn request_hook<S>(
        &mut self,
        store: S,
        hook: Hook,
        req: Resource<RequestView>,
    ) -> wasmtime::Result<Decision>
    where
        S: AsContextMut,
        S::Data: Send,
    {
        let export = match hook {
            Hook::ViewerRequest => &mut self.viewer_request,
            _ => &mut self.origin_request,
        };
        Ok(export.call(&self.instance, store, (req,)).await?.0)
    }

    /// `cache-key`.
    pub(crate) async fn cache_key<S>(
        &mut self,
        store: S,
        req: Resource<RequestView>,
    ) -> wasmtime::Result<Option<String>>
    where
        S: AsContextMut,
        S::Data: Send,
    {
        Ok(self.cache_key.call(&self.instance, store, (req,)).await?.0)
    }

    /// `on-origin-response` or `on-viewer-response`.
    pub(crate) async fn response_hook<S>(
        &mut self,
        store: S,
        hook: Hook,
        req: Resource<RequestView>,
        resp: Resource<ResponseView>,
    ) -> wasmtime::Result<()>
    where
        S: AsContextMut,
        S::Data: Send,
    {
        let export = match hook {
            Hook::OriginResponse => &mut self.origin_response,
            _ => &mut self.viewer_response,
        };
        export.call(&self.instance, store, (req, resp)).await
    }
}
