//! examples/kubernetes.yaml, the README's Kubernetes recipe: valid against the Kubernetes schema
//! (`kubernetes-validate --strict`, from PyPI, offline), and holding what the README promises:
//! the Pod Security "restricted" fields, the Secret mounted through the `_FILE` variables, a
//! memory-backed `emptyDir` for `--write-credentials`, a startup budget longer than whoami's,
//! and the comments that say how to create the Secret and when to use `SYSTEMPROMPT_INIT=always`.
//!
//! The schema and structure checks need `kubernetes-validate` (and the PyYAML it brings, to read
//! the YAML); without it they print one `skipped:` line. The text checks always run.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes.yaml")
}

fn text() -> String {
    std::fs::read_to_string(manifest()).expect("examples/kubernetes.yaml")
}

/// Is `kubernetes-validate` installed? If not, one visible `skipped:` line.
fn validator(test: &str) -> bool {
    let ok = Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "skipped: {test}: kubernetes-validate is not installed (pip install kubernetes-validate)"
        );
    }
    ok
}

/// The documents of the manifest as JSON, read by PyYAML (which kubernetes-validate uses).
fn documents() -> Vec<Value> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], sys.stdout)",
        ])
        .arg(manifest())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "reading the YAML: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from PyYAML")
}

/// `v` at a path of object keys; panics naming the path when it is missing.
fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, key| {
        v.get(key)
            .unwrap_or_else(|| panic!("examples/kubernetes.yaml: no {path} (at {key})"))
    })
}

fn deployment() -> Value {
    documents()
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment")
}

#[test]
fn the_manifest_is_valid_against_the_kubernetes_schema() {
    if !validator("the_manifest_is_valid_against_the_kubernetes_schema") {
        return;
    }
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(manifest())
        .output()
        .expect("kubernetes-validate");
    assert!(
        out.status.success(),
        "kubernetes-validate --strict:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // It can fail: a misspelt field is refused.
    let bad = std::env::temp_dir().join(format!("sp-k8s-{}.yaml", std::process::id()));
    std::fs::write(
        &bad,
        text().replacen("readOnlyRootFilesystem", "readOnlyRootFilesytem", 1),
    )
    .expect("temp file");
    let refused = Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&bad)
        .output()
        .expect("kubernetes-validate");
    let _ = std::fs::remove_file(&bad);
    assert!(
        !refused.status.success(),
        "kubernetes-validate accepted a misspelt field"
    );
}

#[test]
fn the_pod_meets_the_restricted_profile() {
    if !validator("the_pod_meets_the_restricted_profile") {
        return;
    }
    let d = deployment();
    let pod = at(&d, "spec.template.spec");
    assert_eq!(at(pod, "securityContext.runAsNonRoot"), true);
    assert_eq!(
        at(pod, "securityContext.seccompProfile.type"),
        "RuntimeDefault"
    );
    let containers = at(pod, "containers").as_array().expect("containers");
    assert!(!containers.is_empty());
    for c in containers {
        let sc = at(c, "securityContext");
        assert_eq!(at(sc, "allowPrivilegeEscalation"), false, "{}", c["name"]);
        assert_eq!(at(sc, "capabilities.drop"), &serde_json::json!(["ALL"]));
        assert_eq!(at(sc, "runAsNonRoot"), true);
        assert_eq!(at(sc, "seccompProfile.type"), "RuntimeDefault");
        assert_eq!(at(sc, "readOnlyRootFilesystem"), true);
        assert!(sc.get("privileged").is_none_or(|p| p == false));
        assert!(
            sc.get("capabilities")
                .and_then(|c| c.get("add"))
                .is_none_or(|a| a.as_array().is_some_and(Vec::is_empty)),
            "restricted allows no added capabilities"
        );
    }
    assert!(pod.get("hostNetwork").is_none_or(|v| v == false));
    assert!(pod.get("hostPID").is_none_or(|v| v == false));
}

#[test]
fn credentials_come_from_the_secret_and_go_to_memory() {
    if !validator("credentials_come_from_the_secret_and_go_to_memory") {
        return;
    }
    let d = deployment();
    let pod = at(&d, "spec.template.spec");
    let c = &at(pod, "containers")[0];
    let env: Vec<(String, String)> = at(c, "env")
        .as_array()
        .expect("env")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default().to_owned(),
                e["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let var = |name: &str| {
        env.iter()
            .find(|(n, _)| n == name)
            .map_or_else(|| panic!("env {name}"), |(_, v)| v.clone())
    };
    for (name, _) in &env {
        assert!(
            name != "SYSTEMPROMPT_API_TOKEN" && name != "SYSTEMPROMPT_USER_EMAIL",
            "{name}: in the Secret, through the _FILE variable"
        );
    }
    let mounts = at(c, "volumeMounts").as_array().expect("volumeMounts");
    let volumes = at(pod, "volumes").as_array().expect("volumes");
    let volume_of = |path: &str| -> &Value {
        let m = mounts
            .iter()
            .filter(|m| path.starts_with(m["mountPath"].as_str().unwrap_or("\0")))
            .max_by_key(|m| m["mountPath"].as_str().map_or(0, str::len))
            .unwrap_or_else(|| panic!("no volume mounted at {path}"));
        volumes
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap_or_else(|| panic!("no volume {}", m["name"]))
    };
    for (var_name, key) in [
        ("SYSTEMPROMPT_API_TOKEN_FILE", "token"),
        ("SYSTEMPROMPT_USER_EMAIL_FILE", "email"),
    ] {
        let path = var(var_name);
        let v = volume_of(&path);
        let secret = at(v, "secret");
        assert_eq!(at(secret, "secretName"), "systemprompt");
        let items = at(secret, "items").as_array().expect("items");
        assert!(
            items.iter().any(|i| i["key"] == key
                && path.ends_with(&format!("/{}", i["path"].as_str().unwrap_or("\0")))),
            "{var_name}={path}: not the Secret's `{key}`"
        );
    }
    let creds = var("SYSTEMPROMPT_WRITE_CREDENTIALS");
    let v = volume_of(&creds);
    assert_eq!(
        at(v, "emptyDir.medium"),
        "Memory",
        "{creds}: --write-credentials on a memory-backed emptyDir"
    );
}

#[test]
fn the_startup_budget_outlasts_whoami() {
    if !validator("the_startup_budget_outlasts_whoami") {
        return;
    }
    let d = deployment();
    let c = &at(&d, "spec.template.spec.containers")[0];
    let probe = at(c, "startupProbe");
    let period = probe["periodSeconds"].as_u64().unwrap_or(10);
    let failures = probe["failureThreshold"].as_u64().unwrap_or(3);
    let delay = probe["initialDelaySeconds"].as_u64().unwrap_or(0);
    let budget = delay + period * failures;
    assert!(
        budget > 30,
        "startupProbe allows {budget} s: no more than the whoami budget (30 s)"
    );
    // A refused token stalls the rollout instead of taking pods down.
    assert_eq!(at(&d, "spec.strategy.rollingUpdate.maxUnavailable"), 0);
}

#[test]
fn the_comments_say_how_to_create_the_secret_rotate_it_and_when_to_supervise() {
    let t = text();
    assert!(
        t.contains("kubectl create secret generic systemprompt"),
        "the Secret creation command"
    );
    assert!(
        t.contains("kubectl rollout restart deployment/my-app"),
        "the rotation command"
    );
    assert!(
        t.contains("shareProcessNamespace"),
        "the shareProcessNamespace case"
    );
    assert!(t.contains("SYSTEMPROMPT_INIT=always"), "the advice for it");
    assert!(!t.contains("eyJ"), "a token in the manifest");
}
