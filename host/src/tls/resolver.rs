//! Picks the certificate for a handshake from the SNI name: exact name, then one-label
//! wildcard, then the default certificate or a refused handshake.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::certs::LoadedCertificate;
use crate::config::{CertificateId, UnknownSni};

/// An immutable set of certificates indexed by name.
#[derive(Debug, Default)]
pub struct CertificateSet {
    pub certificates: Vec<Arc<LoadedCertificate>>,
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the suffix after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl CertificateSet {
    /// Indexes `certificates`; the first certificate listing a name serves it.
    pub fn new(
        certificates: Vec<Arc<LoadedCertificate>>,
        default: Option<&CertificateId>,
        unknown_sni: UnknownSni,
    ) -> Self {
        let mut set = CertificateSet::default();
        for cert in &certificates {
            for name in &cert.names {
                match name.strip_prefix("*.") {
                    Some(suffix) => set
                        .wildcard
                        .entry(suffix.to_owned())
                        .or_insert_with(|| cert.key.clone()),
                    None => set
                        .exact
                        .entry(name.clone())
                        .or_insert_with(|| cert.key.clone()),
                };
            }
        }
        if unknown_sni == UnknownSni::DefaultCertificate {
            set.default = default
                .and_then(|id| certificates.iter().find(|c| &c.id == id))
                .map(|c| c.key.clone());
        }
        set.certificates = certificates;
        set
    }

    /// The key for `server_name` (already lower-case), or the default.
    pub fn pick(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        server_name
            .and_then(|name| {
                self.exact.get(name).or_else(|| {
                    name.split_once('.')
                        .and_then(|(_, suffix)| self.wildcard.get(suffix))
                })
            })
            .or(self.default.as_ref())
            .cloned()
    }
}

/// The rustls resolver; its certificate set is replaced whole on reload.
#[derive(Debug)]
pub struct SniResolver {
    set: ArcSwap<CertificateSet>,
}

impl SniResolver {
    pub fn new(set: Arc<CertificateSet>) -> Self {
        Self {
            set: ArcSwap::new(set),
        }
    }

    pub fn replace(&self, set: Arc<CertificateSet>) {
        self.set.store(set);
    }

    pub fn current(&self) -> Arc<CertificateSet> {
        self.set.load_full()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sent = hello.server_name();
        let lower = sent
            .filter(|n| n.bytes().any(|b| b.is_ascii_uppercase()))
            .map(str::to_ascii_lowercase);
        let name = lower.as_deref().or(sent);
        super::stream::note_server_name(name);
        self.set.load().pick(name)
    }
}
