//! Header methods shared by [`crate::Request`] and [`crate::ResponseHead`]: their WIT
//! resources offer the same header calls, so one definition serves both.

/// Expands, inside an `impl` of a type with an `inner` WIT resource, to the header
/// reads and edits.
macro_rules! header_methods {
    () => {
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

        /// Every header as (lower-case name, value), names grouped and each name's values
        /// in order, fetched in one host call
        /// (cheaper than `header_names` and `header_all` per name when you need them
        /// all); non-UTF-8 values are left out.
        pub fn headers(&self) -> Vec<(String, String)> {
            self.inner.headers()
        }

        /// Sets a header, replacing any values. A refused edit is logged to the host
        /// log; use `try_set_header` to handle it yourself.
        pub fn set_header(&mut self, name: &str, value: &str) {
            if let Err(e) = self.try_set_header(name, value) {
                $crate::request::log_refused("set_header", name, e);
            }
        }

        /// Sets a header, replacing any values, reporting a refused edit.
        pub fn try_set_header(&mut self, name: &str, value: &str) -> Result<(), $crate::EditError> {
            self.inner.set_header(name, value).map_err(Into::into)
        }

        /// Adds a header value, keeping existing ones. A refused edit is logged.
        pub fn append_header(&mut self, name: &str, value: &str) {
            if let Err(e) = self.inner.append_header(name, value) {
                $crate::request::log_refused("append_header", name, e.into());
            }
        }

        /// Removes every value of a header (host-managed headers are left alone).
        pub fn remove_header(&mut self, name: &str) {
            self.inner.remove_header(name)
        }
    };
}
