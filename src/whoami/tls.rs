//! The TLS client configuration: rustls with the ring provider, the embedded webpki roots plus
//! every certificate in the `SSL_CERT_FILE` PEM bundle. Nothing is read from `/etc/ssl` and the
//! platform verifier is never used (a scratch image has no system certificates).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::error::{ConfigProblem, Error};

/// The environment variable naming extra PEM roots.
const SSL_CERT_FILE: &str = crate::config::vars::SSL_CERT_FILE.var;

/// The config for `https://`: webpki roots plus the `SSL_CERT_FILE` bundle, when given.
pub(crate) fn https_config(ssl_cert_file: Option<&Path>) -> Result<ClientConfig, Error> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ssl_cert_file {
        let extra = read_bundle(path)?;
        let (added, ignored) = roots.add_parsable_certificates(extra);
        if added == 0 {
            return Err(config(
                path,
                "none of its certificates is usable as a trust anchor",
            ));
        }
        if ignored > 0 {
            tracing::warn!(
                "{SSL_CERT_FILE}={}: {ignored} certificate(s) ignored (not usable as trust anchors), {added} added",
                path.display()
            );
        } else {
            tracing::debug!(
                "{SSL_CERT_FILE}={}: {added} extra root certificate(s)",
                path.display()
            );
        }
    }
    finish(roots)
}

/// The config for loopback `http://`: reqwest insists on a TLS backend, and without one it would
/// build the platform verifier (which reads the system certificates, or panics for want of a
/// default crypto provider). An empty root store costs nothing and trusts nothing.
pub(crate) fn plain_http_config() -> Result<ClientConfig, Error> {
    finish(RootCertStore::empty())
}

fn finish(roots: RootCertStore) -> Result<ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // reqwest leaves ALPN to a preconfigured config; we only speak HTTP/1.1.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Every certificate of the PEM bundle at `path` (checked as the configuration checks it).
fn read_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem =
        crate::input::read_bounded(path, crate::input::MAX_CA_BUNDLE).map_err(|e| match e {
            crate::input::InputError::TooLarge(_) => {
                config(path, &format!("{e}, not a certificate bundle"))
            }
            e => config(path, &e.to_string()),
        })?;
    crate::config::validate::ca_bundle(&pem).map_err(|what| config(path, &what))
}

fn config(path: &Path, what: &str) -> Error {
    Error::Config(vec![ConfigProblem {
        var: SSL_CERT_FILE.to_owned(),
        message: format!(
            "{}: {what}; point it at a PEM bundle of CA certificates, or unset it to use the built-in roots",
            path.display()
        ),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "sp-entrypoint-whoami-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn assert_config_error(res: Result<ClientConfig, Error>, needle: &str) {
        match res {
            Err(Error::Config(p)) => {
                assert_eq!(p.len(), 1);
                assert_eq!(p[0].var, "SSL_CERT_FILE");
                assert!(p[0].message.contains(needle), "{}", p[0].message);
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn builtin_roots_without_ssl_cert_file() {
        let cfg = https_config(None).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(plain_http_config().is_ok());
    }

    #[test]
    fn bad_ssl_cert_file_is_a_config_error() {
        let missing = std::env::temp_dir().join("sp-entrypoint-whoami-does-not-exist.pem");
        assert_config_error(https_config(Some(&missing)), "cannot read it");
        let empty = temp_file("empty.pem", b"");
        assert_config_error(https_config(Some(&empty)), "no PEM CERTIFICATE block");
        let junk = temp_file("junk.pem", b"hello, not a certificate\n");
        assert_config_error(https_config(Some(&junk)), "no PEM CERTIFICATE block");
        let broken = temp_file(
            "broken.pem",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        );
        assert_config_error(https_config(Some(&broken)), "not a valid PEM bundle");
        let not_a_cert = temp_file(
            "notcert.pem",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        assert_config_error(https_config(Some(&not_a_cert)), "trust anchor");
        for p in [empty, junk, broken, not_a_cert] {
            let _ = std::fs::remove_file(p);
        }
    }
}
