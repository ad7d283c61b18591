//! device-class: sets CloudFront's `cloudfront-is-*-viewer` headers and `x-device-class`
//! from the User-Agent (and client hints where the User-Agent is ambiguous).
//!
//! Exactly one of the four CloudFront headers is `true`; bots and unknown agents count
//! as desktop, as CloudFront does, while `x-device-class` keeps the five-way class
//! (`desktop`, `mobile`, `tablet`, `smarttv`, `bot`).

pub mod classify;

use classify::Class;
use wedge_sdk::{Decision, Function, Request};

/// The function: stateless, one classification per request.
#[derive(Default)]
pub struct DeviceClass;

#[wedge_sdk::function]
impl Function for DeviceClass {
    // Hooks keep nothing on `self` between requests, so the host may reuse instances.
    const REUSE_INSTANCE: bool = true;

    // The class depends on these headers alone, so the host may reuse decisions.
    const VIEWER_REQUEST_INPUTS: Option<&'static [&'static str]> =
        Some(&["user-agent", "sec-ch-ua-mobile", "sec-ch-ua-platform"]);

    fn on_viewer_request(&mut self, req: &mut Request) -> Decision {
        let ua = req.header("user-agent").unwrap_or_default();
        let mobile_hint = req.header("sec-ch-ua-mobile");
        let platform_hint = req.header("sec-ch-ua-platform");
        let class =
            classify::classify_with_hints(&ua, mobile_hint.as_deref(), platform_hint.as_deref());
        for (name, value) in headers_for(class) {
            req.set_header(name, value);
        }
        Decision::Continue
    }
}

/// The five headers this function sets for `class`.
pub fn headers_for(class: Class) -> [(&'static str, &'static str); 5] {
    let cloudfront = match class {
        Class::Bot => Class::Desktop,
        other => other,
    };
    let flag = |c: Class| if cloudfront == c { "true" } else { "false" };
    [
        ("cloudfront-is-desktop-viewer", flag(Class::Desktop)),
        ("cloudfront-is-mobile-viewer", flag(Class::Mobile)),
        ("cloudfront-is-tablet-viewer", flag(Class::Tablet)),
        ("cloudfront-is-smarttv-viewer", flag(Class::SmartTv)),
        ("x-device-class", class.as_str()),
    ]
}
