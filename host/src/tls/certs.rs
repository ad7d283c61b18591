//! Loading a certificate chain and key from PEM files, with the names and expiry read
//! from the leaf certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::config::{CertificateFiles, CertificateId};

/// Why a certificate could not be used; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: PathBuf },
    #[error("{path}: invalid PEM: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("{path}: no usable private key: {message}")]
    Key { path: PathBuf, message: String },
    #[error("{path}: cannot parse the leaf certificate: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: the certificate names no DNS host (no subject alternative names)")]
    NoNames { path: PathBuf },
    #[error("{cert}: the key in {key} does not match the certificate: {message}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
}

/// A certificate ready to serve, with what the operator wants to know about it.
#[derive(Debug)]
pub struct LoadedCertificate {
    pub id: CertificateId,
    pub files: CertificateFiles,
    /// DNS names from the subject alternative names, lower-case (may include `*.` wildcards).
    pub names: Vec<String>,
    pub not_after: SystemTime,
    pub key: Arc<CertifiedKey>,
}

impl LoadedCertificate {
    pub fn load(id: CertificateId, files: &CertificateFiles) -> Result<Self, CertError> {
        let chain = read_chain(&files.cert)?;
        let key_der = read_key(&files.key)?;
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let key = CertifiedKey::from_der(chain.clone(), key_der, &provider).map_err(|e| {
            CertError::Mismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
                message: e.to_string(),
            }
        })?;
        let (names, not_after) = inspect_leaf(&files.cert, &chain[0])?;
        Ok(Self {
            id,
            files: files.clone(),
            names,
            not_after,
            key: Arc::new(key),
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let pem = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Pem {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| CertError::Key {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn inspect_leaf(
    path: &Path,
    leaf: &CertificateDer<'_>,
) -> Result<(Vec<String>, SystemTime), CertError> {
    let parse_err = |message: String| CertError::Parse {
        path: path.to_owned(),
        message,
    };
    let (_, cert) =
        x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| parse_err(e.to_string()))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push(dns.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        return Err(CertError::NoNames {
            path: path.to_owned(),
        });
    }
    let secs = cert.validity().not_after.timestamp();
    let not_after = if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        SystemTime::UNIX_EPOCH
    };
    Ok((names, not_after))
}
