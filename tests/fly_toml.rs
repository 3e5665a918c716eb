//! fly.toml, checked without flyctl: the keys the Deploy section of the README relies on. The
//! release command must run behind the entrypoint (the app Dockerfile fly.toml builds has
//! `ENTRYPOINT ["/sp-entrypoint", "--"]`), the stop signal and timeout are explicit, nothing
//! bypasses the entrypoint, and no credential is in the file.

use std::path::Path;

use toml::{Table, Value};

const ENTRYPOINT: [&str; 2] = ["/sp-entrypoint", "--"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fly() -> Table {
    read("fly.toml")
        .parse::<Table>()
        .unwrap_or_else(|e| panic!("fly.toml: {e}"))
}

fn table<'a>(t: &'a Table, key: &str) -> &'a Table {
    t.get(key)
        .and_then(Value::as_table)
        .unwrap_or_else(|| panic!("fly.toml: no [{key}] table"))
}

fn string<'a>(t: &'a Table, key: &str) -> &'a str {
    t.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("fly.toml: `{key}` is not a string"))
}

/// The exec-form ENTRYPOINT of the final stage of a Dockerfile (the last `ENTRYPOINT` after
/// the last `FROM`), if any.
fn final_entrypoint(dockerfile: &str) -> Option<Vec<String>> {
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    let last_from = lines
        .iter()
        .rposition(|l| l.to_ascii_uppercase().starts_with("FROM "))?;
    let line = lines[last_from..]
        .iter()
        .rev()
        .find(|l| l.to_ascii_uppercase().starts_with("ENTRYPOINT "))?;
    serde_json::from_str(line["ENTRYPOINT ".len()..].trim()).ok()
}

/// Every string value in the document, with its dotted key.
fn strings(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        Value::Array(items) => {
            for item in items {
                strings(prefix, item, out);
            }
        }
        Value::Table(t) => {
            for (k, v) in t {
                strings(&format!("{prefix}.{k}"), v, out);
            }
        }
        _ => {}
    }
}

#[test]
fn stop_signal_and_timeout_are_explicit() {
    let fly = fly();
    // Fly's documented default is SIGINT, one page says SIGTERM: state it.
    assert_eq!(string(&fly, "kill_signal"), "SIGTERM");
    let timeout = fly
        .get("kill_timeout")
        .and_then(Value::as_integer)
        .expect("kill_timeout: seconds, as an integer");
    assert!(
        (5..=300).contains(&timeout),
        "kill_timeout {timeout}: Fly allows up to 300 s; less than the default 5 s is too short"
    );
}

#[test]
fn the_built_image_runs_sp_entrypoint_as_its_entrypoint() {
    let fly = fly();
    let dockerfile = string(table(&fly, "build"), "dockerfile");
    let entrypoint = final_entrypoint(&read(dockerfile))
        .unwrap_or_else(|| panic!("{dockerfile}: no exec-form ENTRYPOINT in the final stage"));
    assert_eq!(entrypoint, ENTRYPOINT, "{dockerfile}");
    // The sp-entrypoint image itself has the same one.
    assert_eq!(
        final_entrypoint(&read("Dockerfile")).expect("Dockerfile: ENTRYPOINT"),
        ENTRYPOINT
    );
}

#[test]
fn release_command_runs_behind_the_entrypoint() {
    let fly = fly();
    let release = string(table(&fly, "deploy"), "release_command");
    let argv: Vec<&str> = release.split_whitespace().collect();
    // Fly runs ENTRYPOINT + release_command: `/sp-entrypoint -- <release_command>`, so the
    // credentials are checked before the release command starts, and a bad token stops the
    // deploy. A bare `check` would be looked up as an app named `check` (exit 127 after a
    // successful check, failing every good deploy).
    assert!(!argv.is_empty(), "release_command is empty");
    assert_ne!(
        argv[0], "check",
        "release_command `check` runs an app named check"
    );
    assert_ne!(argv[0], "--", "release_command must not start with `--`");
    if argv[0].ends_with("sp-entrypoint") {
        assert_eq!(
            argv.get(1).copied(),
            Some("check"),
            "sp-entrypoint as the release command: `/sp-entrypoint check`"
        );
    }
}

#[test]
fn nothing_bypasses_the_entrypoint() {
    let fly = fly();
    if let Some(experimental) = fly.get("experimental").and_then(Value::as_table) {
        for key in ["exec", "entrypoint"] {
            assert!(
                !experimental.contains_key(key),
                "[experimental] {key} replaces the ENTRYPOINT: the credentials would not be checked"
            );
        }
    }
}

#[test]
fn no_credentials_in_the_file() {
    let fly = fly();
    let env = table(&fly, "env");
    for key in [
        "SYSTEMPROMPT_API_TOKEN",
        "SYSTEMPROMPT_USER_EMAIL",
        "SYSTEMPROMPT_API_TOKEN_FILE",
        "SYSTEMPROMPT_USER_EMAIL_FILE",
    ] {
        assert!(
            !env.contains_key(key),
            "{key} belongs in `fly secrets set`, not [env]"
        );
    }
    let mut all = Vec::new();
    strings("", &Value::Table(fly.clone()), &mut all);
    for (key, value) in &all {
        assert!(
            !value.contains("eyJ") && !value.contains("sp_live_"),
            "{key}: looks like a token"
        );
        assert!(!value.contains('@'), "{key}: looks like an email");
    }
    // Not even in a comment: a JWT starts with `eyJ` (base64 of `{"`).
    assert!(!read("fly.toml").contains("eyJ"), "fly.toml holds a token");
    // The file says how the secrets are set.
    assert!(
        read("fly.toml")
            .contains("fly secrets set SYSTEMPROMPT_API_TOKEN=... SYSTEMPROMPT_USER_EMAIL=..."),
        "fly.toml documents `fly secrets set`"
    );
    let url = string(env, "SYSTEMPROMPT_API_URL");
    assert!(url.starts_with("https://"), "SYSTEMPROMPT_API_URL {url}");
}

#[test]
fn http_service_has_a_check() {
    let fly = fly();
    let service = table(&fly, "http_service");
    assert!(
        service
            .get("internal_port")
            .and_then(Value::as_integer)
            .is_some(),
        "http_service.internal_port"
    );
    let checks = service
        .get("checks")
        .and_then(Value::as_array)
        .expect("[[http_service.checks]]");
    assert!(!checks.is_empty(), "[[http_service.checks]] is empty");
    for check in checks {
        let check = check.as_table().expect("a check is a table");
        assert!(
            check
                .get("path")
                .and_then(Value::as_str)
                .is_some_and(|p| p.starts_with('/')),
            "a check's path"
        );
        for key in ["interval", "timeout", "grace_period"] {
            assert!(
                check.get(key).and_then(Value::as_str).is_some(),
                "check.{key}"
            );
        }
    }
}

#[test]
fn final_entrypoint_reads_the_last_stage() {
    let two_stages = "FROM a AS x\nENTRYPOINT [\"/x\"]\nFROM scratch\nCOPY a b\n";
    assert_eq!(final_entrypoint(two_stages), None);
    let ok = "FROM scratch\nENTRYPOINT [\"/sp-entrypoint\", \"--\"]\nCMD [\"/app\"]\n";
    assert_eq!(final_entrypoint(ok).unwrap(), ENTRYPOINT);
}
