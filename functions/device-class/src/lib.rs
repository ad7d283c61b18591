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
        // One host call to read and one to write, with the edits as fixed text: a call
        // across the boundary costs more than reading or writing a short header.
        let [ua, mobile_hint, platform_hint] =
            req.header_each(["user-agent", "sec-ch-ua-mobile", "sec-ch-ua-platform"]);
        let class = classify::classify_with_hints(
            ua.as_deref().unwrap_or_default(),
            mobile_hint.as_deref(),
            platform_hint.as_deref(),
        );
        req.set_header_block(header_block_for(class));
        Decision::Continue
    }
}

/// The five headers this function sets for `class`, as the lines of a header block
/// (`name:value\n` each): fixed text, so setting them builds nothing. Bots count as
/// desktop viewers for CloudFront's headers and keep their own `x-device-class`.
pub fn header_block_for(class: Class) -> &'static str {
    macro_rules! block {
        ($desktop:literal, $mobile:literal, $tablet:literal, $tv:literal, $class:literal) => {
            concat!(
                "cloudfront-is-desktop-viewer:",
                $desktop,
                "\n",
                "cloudfront-is-mobile-viewer:",
                $mobile,
                "\n",
                "cloudfront-is-tablet-viewer:",
                $tablet,
                "\n",
                "cloudfront-is-smarttv-viewer:",
                $tv,
                "\n",
                "x-device-class:",
                $class,
                "\n",
            )
        };
    }
    match class {
        Class::Desktop => block!("true", "false", "false", "false", "desktop"),
        Class::Mobile => block!("false", "true", "false", "false", "mobile"),
        Class::Tablet => block!("false", "false", "true", "false", "tablet"),
        Class::SmartTv => block!("false", "false", "false", "true", "smarttv"),
        Class::Bot => block!("true", "false", "false", "false", "bot"),
    }
}
