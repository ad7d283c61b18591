//! Debugging aid: prints what each detector says about the values given as arguments,
//! and the SQL token streams behind the SQL injection verdict.
//! `cargo run -p waf-rules --example why -- "1' or 1=1--"`

fn main() {
    for v in std::env::args().skip(1) {
        let lower = v.to_ascii_lowercase();
        println!("{v:?} sqli check {:?}", waf_rules::sqli::explain(&lower));
        println!(
            "  sqli={} xss={} traversal={} rce={} php={} rfi={} rfi-in-markup={}",
            waf_rules::sqli::is_sqli(&v),
            waf_rules::xss::is_xss(&v),
            waf_rules::detect::is_traversal(&v),
            waf_rules::detect::is_rce(&lower),
            waf_rules::detect::is_php(&lower),
            waf_rules::detect::is_rfi(&lower),
            waf_rules::detect::is_rfi_in_markup(&v)
        );
        println!("  {:?}", waf_rules::sqli::tokenize(&lower));
        // As a value inside a quoted literal: what `explain` reads after each quote.
        for quote in [b'\'', b'"'] {
            println!(
                "  {} {:?}",
                quote as char,
                waf_rules::sqli::tokenize_quoted(&format!("{}{lower}", quote as char), quote)
            );
        }
    }
}
