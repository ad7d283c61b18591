//! A local certificate authority for `wedge dev`, kept across runs so a browser or curl
//! that trusts it once keeps trusting it, and leaf certificates signed by it.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// Where the dev CA's certificate is, and the leaf files written for each name.
pub struct DevCertificates {
    pub ca_cert: PathBuf,
    pub dir: PathBuf,
}

/// Loads the CA from `dir` (creating it on first use) and issues a certificate for each
/// of `names`, valid for that one name only, as `<name>.pem` and `<name>.key`.
pub fn ensure(dir: &Path, names: &[&str]) -> anyhow::Result<DevCertificates> {
    std::fs::create_dir_all(dir)?;
    let ca_cert = dir.join("ca.pem");
    let ca_key = dir.join("ca.key");
    let issuer = if ca_cert.exists() && ca_key.exists() {
        let key = KeyPair::from_pem(&std::fs::read_to_string(&ca_key)?)?;
        Issuer::from_ca_cert_pem(&std::fs::read_to_string(&ca_cert)?, key)?
    } else {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "wedge dev CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "wedge (local development only)");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2035, 1, 1);
        let cert = params.self_signed(&key)?;
        std::fs::write(&ca_cert, cert.pem())?;
        write_private(&ca_key, &key.serialize_pem())?;
        Issuer::new(params, key)
    };
    for name in names {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![(*name).to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, *name);
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2034, 1, 1);
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &issuer)?;
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem())?;
        write_private(&dir.join(format!("{name}.key")), &key.serialize_pem())?;
    }
    Ok(DevCertificates {
        ca_cert,
        dir: dir.to_owned(),
    })
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
