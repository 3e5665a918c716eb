//! fly.toml, checked without flyctl: the keys the Deploy section of the README relies on. The
//! release command must run behind the entrypoint (the app Dockerfile fly.toml builds has
//! `ENTRYPOINT ["/sp-entrypoint", "--"]`), the stop signal and timeout are explicit, nothing
//! bypasses the entrypoint, no credential is in the file, secrets are rotated staged and then
//! deployed, the health check's grace outlasts the whoami budget, a restart policy is set, and
//! what the Dockerfile copies is in the build context. (scripts/docker-smoke.sh builds that
//! Dockerfile from the repository root, as `fly deploy` does, and runs it.)

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
    // The file says how the secrets are set: staged, then deployed, so that the
    // release_command checks them (a plain `fly secrets set` restarts without a deploy).
    let text = read("fly.toml");
    let staged = text
        .find("fly secrets set --stage SYSTEMPROMPT_API_TOKEN=... SYSTEMPROMPT_USER_EMAIL=...")
        .expect("fly.toml documents `fly secrets set --stage ...`");
    assert!(
        text[staged..].contains("fly deploy"),
        "fly.toml: `fly deploy` after the staged secrets"
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

/// Seconds in a Fly duration string: `45s`, `2m`, `1m30s`, `500ms` (rounded up).
fn seconds(d: &str) -> u64 {
    let mut total_ms = 0u64;
    let mut num = String::new();
    let mut chars = d.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().unwrap_or_else(|_| panic!("duration {d:?}"));
        num.clear();
        let unit_ms = match c {
            'h' => 3_600_000,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1
            }
            'm' => 60_000,
            's' => 1_000,
            _ => panic!("duration {d:?}: unit {c:?}"),
        };
        total_ms += n * unit_ms;
    }
    assert!(num.is_empty(), "duration {d:?}: a number without a unit");
    total_ms.div_ceil(1_000)
}

#[test]
fn health_check_grace_outlasts_the_whoami_budget() {
    let fly = fly();
    // The budget the Machines run with: [env], else the entrypoint's default (30 s).
    let budget: u64 = table(&fly, "env")
        .get("SYSTEMPROMPT_WHOAMI_TIMEOUT")
        .and_then(Value::as_str)
        .map_or(30, |v| {
            v.trim()
                .parse()
                .expect("SYSTEMPROMPT_WHOAMI_TIMEOUT: seconds")
        });
    let checks = table(&fly, "http_service")
        .get("checks")
        .and_then(Value::as_array)
        .expect("[[http_service.checks]]");
    for check in checks {
        let grace = check
            .get("grace_period")
            .and_then(Value::as_str)
            .expect("check.grace_period");
        assert!(
            seconds(grace) > budget,
            "grace_period {grace} is not longer than the whoami budget ({budget} s): a slow \
             API at boot would fail the check"
        );
    }
}

#[test]
fn a_restart_policy_is_set() {
    let fly = fly();
    let restarts = fly
        .get("restart")
        .and_then(Value::as_array)
        .expect("[[restart]]");
    assert!(!restarts.is_empty(), "[[restart]] is empty");
    for r in restarts {
        let policy = r
            .get("policy")
            .and_then(Value::as_str)
            .expect("restart.policy");
        assert!(
            ["on-failure", "always"].contains(&policy),
            "restart.policy {policy:?}: a Machine whose boot fails must be retried"
        );
        if policy == "on-failure" {
            let retries = r
                .get("retries")
                .and_then(Value::as_integer)
                .expect("restart.retries");
            assert!(retries > 0, "restart.retries {retries}");
        }
    }
}

/// The sources of the `COPY` lines (not `--from=`) of a Dockerfile.
fn copy_sources(dockerfile: &str) -> Vec<String> {
    dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| l.to_ascii_uppercase().starts_with("COPY "))
        .filter(|l| !l.contains("--from="))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().skip(1).collect();
            let n = words.len().saturating_sub(1);
            words
                .into_iter()
                .take(n)
                .filter(|w| !w.starts_with("--"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_app_image_builds_from_the_repository() {
    let fly = fly();
    let dockerfile = string(table(&fly, "build"), "dockerfile");
    let sources = copy_sources(&read(dockerfile));
    assert!(!sources.is_empty(), "{dockerfile}: copies no app");
    let ignore = read(".dockerignore");
    for src in &sources {
        // `fly deploy` sends the repository root as the context.
        assert!(
            root().join(src).exists(),
            "{dockerfile}: COPY {src}: not in the repository"
        );
        // The allow-list .dockerignore must let it in.
        let allowed = ignore.lines().map(str::trim).any(|l| {
            l.strip_prefix('!').is_some_and(|p| {
                src.trim_end_matches('/')
                    .starts_with(p.trim_end_matches('/'))
            })
        });
        assert!(
            allowed,
            "{dockerfile}: COPY {src}: .dockerignore keeps it out of the context"
        );
    }
    // The app serves the path the check probes.
    let path = table(&fly, "http_service")["checks"][0]["path"]
        .as_str()
        .expect("check path")
        .to_owned();
    assert!(
        root()
            .join("examples/app/www")
            .join(path.trim_start_matches('/'))
            .is_file(),
        "the example app does not serve {path}"
    );
    // The sp-entrypoint image it builds on is this release.
    let image = string(table(table(&fly, "build"), "args"), "SP_ENTRYPOINT_IMAGE");
    assert!(
        image.ends_with(concat!(":", env!("CARGO_PKG_VERSION"))),
        "SP_ENTRYPOINT_IMAGE {image}: tag it with this release, {}",
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn durations_and_copy_sources_parse() {
    assert_eq!(seconds("45s"), 45);
    assert_eq!(seconds("1m30s"), 90);
    assert_eq!(seconds("500ms"), 1);
    assert_eq!(
        copy_sources("FROM x\nCOPY --chown=1:1 a/ b /dst/\nCOPY --from=y /s /s\n"),
        ["a/", "b"]
    );
}

#[test]
fn final_entrypoint_reads_the_last_stage() {
    let two_stages = "FROM a AS x\nENTRYPOINT [\"/x\"]\nFROM scratch\nCOPY a b\n";
    assert_eq!(final_entrypoint(two_stages), None);
    let ok = "FROM scratch\nENTRYPOINT [\"/sp-entrypoint\", \"--\"]\nCMD [\"/app\"]\n";
    assert_eq!(final_entrypoint(ok).unwrap(), ENTRYPOINT);
}
