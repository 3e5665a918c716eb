//! `config::load` with fuzzed variable values, command-line values and `_FILE` contents (through
//! its injected reader).
//!
//! Properties: no panic; the result is a config or `Error::Config` with at least one problem,
//! each naming a variable; no problem, warning or `Debug` print contains the token (a real,
//! well-formed token that the fuzzer can place in any variable or file, alone or surrounded by
//! fuzzed text), nor a fuzzed token that decodes; an accepted config holds the trimmed token.
#![no_main]

use std::path::{Path, PathBuf};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sp_entrypoint::config::{CliValues, load, spec, vars};
use sp_entrypoint::error::Error;
use sp_entrypoint::token::decode_claims;

/// A well-formed token (exp 2096, iat 2096 - 1 day).
const TOKEN: &str = "sp_live_eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyXzEyMyIsImV4cCI6NDAwMDAwMDAwMCwiaWF0IjozOTk5OTEzNjAwfQ.bm90LWEtcmVhbC1zaWduYXR1cmUtYnV0LWJ5dGVz";

#[derive(Arbitrary, Debug)]
enum Value {
    Token,
    /// The token with text around it.
    Around(String, String),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Value::Token => TOKEN.as_bytes().to_vec(),
            Value::Around(a, b) => format!("{a}{TOKEN}{b}").into_bytes(),
            Value::Text(t) => t.clone().into_bytes(),
            Value::Bytes(b) => b.clone(),
        }
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// (variable index, value); duplicates allowed (the first wins, like getenv).
    env: Vec<(u8, Value)>,
    /// Files the reader can return: (path index, contents).
    files: Vec<(u8, Value)>,
    /// Command-line options: (option index among the spec's options, value).
    cli: Vec<(u8, Value)>,
}

/// Names beyond the ones `config::load` reads through envy: a lower-case twin (must be
/// ignored), and an unrelated variable.
const EXTRA_NAMES: [&str; 2] = ["systemprompt_api_token", "PATH"];

/// The `i`-th of every name the target draws from: the spec's, then the extra ones.
fn name(i: u8) -> &'static str {
    let ours: Vec<&'static str> = spec::read_by_us().map(|s| s.var).collect();
    let i = usize::from(i) % (ours.len() + EXTRA_NAMES.len());
    ours.get(i).copied().unwrap_or_else(|| EXTRA_NAMES[i - ours.len()])
}

/// Paths a `_FILE` variable is likely to name.
const PATHS: [&str; 4] = ["/run/secrets/token", "/run/secrets/email", "a", "/"];

fn check(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "leaked {s:?} in: {text}");
    }
}

fuzz_target!(|input: Input| {
    let mut env: Vec<(String, String)> = Vec::new();
    for (i, v) in &input.env {
        let name = name(*i);
        // `_FILE` variables usually name one of the known paths.
        let value = match (name.ends_with("_FILE"), v) {
            (true, Value::Bytes(b)) if b.len() == 1 => {
                PATHS[usize::from(b[0]) % PATHS.len()].to_owned()
            }
            _ => v.text(),
        };
        env.push((name.to_owned(), value));
    }
    let files: Vec<(PathBuf, Vec<u8>)> = input
        .files
        .iter()
        .map(|(i, v)| {
            (
                PathBuf::from(PATHS[usize::from(*i) % PATHS.len()]),
                v.bytes(),
            )
        })
        .collect();
    let reader = |p: &Path, limit: u64| -> std::io::Result<Vec<u8>> {
        files
            .iter()
            .find(|(q, _)| q == p)
            .map(|(_, c)| c.clone())
            .filter(|c| c.len() as u64 <= limit)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    };
    let options: Vec<&'static spec::Setting> = spec::with_options().map(|(s, _)| s).collect();
    let mut cli = CliValues::default();
    for (i, v) in &input.cli {
        let setting = options[usize::from(*i) % options.len()];
        let value = if setting.kind == spec::Kind::YesNo { "1".to_owned() } else { v.text() };
        cli.set(setting, value.into());
    }

    // Secrets to look for: the real token, and every fuzzed token-variable value that decodes
    // as a token (after trimming, as load does).
    let mut secrets: Vec<String> = vec![TOKEN.to_owned()];
    for (name, value) in &env {
        if name == vars::API_TOKEN.var && decode_claims(value.trim()).is_ok() {
            secrets.push(value.trim().to_owned());
        }
    }
    for (_, contents) in &files {
        if let Ok(t) = std::str::from_utf8(contents) {
            if decode_claims(t.trim()).is_ok() {
                secrets.push(t.trim().to_owned());
            }
        }
    }
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();

    match load(&cli, &env, &reader).config {
        Ok((config, warnings)) => {
            assert!(decode_claims(config.token.expose()).is_ok());
            assert_eq!(config.token.expose(), config.token.expose().trim());
            check(&format!("{config:?}"), &secrets);
            for w in &warnings {
                check(w, &secrets);
            }
        }
        Err(Error::Config(problems)) => {
            assert!(!problems.is_empty());
            for p in &problems {
                assert!(!p.var.is_empty());
                check(&p.to_string(), &secrets);
            }
            check(&Error::Config(problems).to_string(), &secrets);
        }
        Err(other) => panic!("load returned a non-config error: {other}"),
    }
});
