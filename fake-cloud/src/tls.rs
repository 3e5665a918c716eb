//! TLS material: a fresh self-signed CA and a leaf certificate it signs for `localhost`,
//! `127.0.0.1` and `::1`, turned into a rustls (ring) server configuration.

use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The generated certificates and the server configuration that presents them.
pub struct TlsMaterial {
    /// The CA certificate, PEM, for clients to trust (e.g. via `SSL_CERT_FILE`).
    pub ca_pem: String,
    /// The server configuration (HTTP/1.1 ALPN, ring provider).
    pub config: Arc<ServerConfig>,
}

fn to_io(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("fake-cloud TLS setup: {e}"))
}

/// Generate a CA and a leaf certificate (for `localhost`, `127.0.0.1`, `::1` and
/// `extra_names`) and build the server configuration.
pub fn generate(extra_names: &[String]) -> io::Result<TlsMaterial> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(to_io)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "fake-cloud test CA");
    dn.push(DnType::OrganizationName, "sp-entrypoint fake-cloud");
    ca_params.distinguished_name = dn;
    let ca_key = KeyPair::generate().map_err(to_io)?;
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(to_io)?;

    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(extra_names.iter().cloned());
    let mut leaf_params = CertificateParams::new(names).map_err(to_io)?;
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    let mut leaf_dn = DistinguishedName::new();
    leaf_dn.push(DnType::CommonName, "localhost");
    leaf_params.distinguished_name = leaf_dn;
    let leaf_key = KeyPair::generate().map_err(to_io)?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(to_io)?;

    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(to_io)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(to_io)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem: ca.pem(),
        config: Arc::new(config),
    })
}
