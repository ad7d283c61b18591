//! A function's config, as the host's TOML gave it, and the errors a function reports
//! about it.

use crate::bindings::wedge::function::types as wit;

/// The config table of a function (`[functions.<id>.config]`), as JSON.
#[derive(Debug, Clone)]
pub struct Config {
    value: serde_json::Value,
}

/// A config a function refuses: the field at fault and why. The host shows it as
/// `function <id>: config field <field>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: String,
    message: String,
}

impl ConfigError {
    /// An error about `field` (dotted path, e.g. `redirects.0.to`).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn into_wit(self) -> wit::ConfigError {
        wit::ConfigError {
            field: self.field,
            message: self.message,
        }
    }
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl Config {
    /// No config at all (an empty table).
    pub fn empty() -> Self {
        Self {
            value: serde_json::Value::Object(Default::default()),
        }
    }

    pub(crate) fn from_json(json: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(json)
            .map(|value| Self { value })
            .map_err(|e| ConfigError::new("", e.to_string()))
    }

    /// Deserializes the whole config into `T` (derive `serde::Deserialize`; use
    /// `#[serde(deny_unknown_fields)]` to refuse typos). Errors name the field.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        serde_path_to_error::deserialize(&self.value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            ConfigError::new(field, e.into_inner().to_string())
        })
    }

    /// The raw JSON value.
    pub fn value(&self) -> &serde_json::Value {
        &self.value
    }

    /// Whether the config is empty (no keys).
    pub fn is_empty(&self) -> bool {
        self.value.as_object().is_none_or(|o| o.is_empty())
    }

    /// Refuses any config: for functions that take none.
    pub fn expect_empty(&self) -> Result<(), ConfigError> {
        match self.value.as_object().and_then(|o| o.keys().next()) {
            None => Ok(()),
            Some(key) => Err(ConfigError::new(
                key.clone(),
                "this function takes no config",
            )),
        }
    }
}
