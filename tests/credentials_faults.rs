//! The credentials file under faults: a read-only filesystem and a missing permission give exit
//! 73 with a clear message; an existing file is replaced atomically (a concurrent reader never
//! sees a partial file); two entrypoints writing the same path at once leave a valid file.
//!
//! The read-only and permission cases need `unshare --mount` (root) and `setpriv` (root, to
//! become `nobody`: root itself bypasses file permissions); where that is not permitted they
//! print one `skipped:` line and pass.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{EMAIL, Step, Test, cloud, scratch, tls_cloud};
use sp_entrypoint::credentials::Credentials;
use sp_entrypoint::token::Secret;

/// Run `wrapper ... -- <the binary and args of t>` with `t`'s environment (through
/// [`Test::run_wrapped`], which scans both outputs for the token); return (code, stderr).
fn run_wrapped(t: &Test, wrapper: &[&str], script: Option<&str>) -> (i32, String) {
    let out = t.run_wrapped(wrapper, script);
    (out.code, out.stderr)
}

fn permitted(probe: &[&str]) -> bool {
    Command::new(probe[0])
        .args(&probe[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_read_only_filesystem_is_73() {
    let dir = scratch("rofs");
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let probe_script = format!(
        "mount -t tmpfs tmpfs {m} && mount -o remount,ro {m}",
        m = mnt.display()
    );
    if !permitted(&[
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &probe_script,
    ]) {
        eprintln!(
            "skipped: a_read_only_filesystem_is_73: unshare --mount / mount tmpfs is not permitted here"
        );
        return;
    }
    let fake = cloud(vec![]);
    // An existing directory on the read-only mount (the usual case: a mounted volume), and a
    // missing one below it (which cannot be created either).
    for target in ["credentials.json", "sub/dir/credentials.json"] {
        let path = mnt.join(target);
        let t =
            Test::new()
                .cloud(&fake)
                .args(["--write-credentials", path.to_str().unwrap(), "true"]);
        let script = format!(
            "mount -t tmpfs tmpfs {m} && mount -o remount,ro {m} && exec \"$@\"",
            m = mnt.display()
        );
        let (code, stderr) = run_wrapped(
            &t,
            &["unshare", "--mount", "--propagation", "private"],
            Some(&script),
        );
        assert_eq!(code, 73, "{target}: {stderr}");
        assert!(
            stderr.contains("cannot write the credentials file")
                && stderr.contains("Read-only file system")
                && stderr.contains(path.to_str().unwrap()),
            "{target}: {stderr}"
        );
    }
    // Nothing leaked onto the real directory under the mount point.
    assert_eq!(std::fs::read_dir(&mnt).unwrap().count(), 0);
}

#[test]
fn a_missing_permission_is_73() {
    // /proc/self belongs to our effective user.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let setpriv = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    if !root || !permitted(&[setpriv[0], setpriv[1], setpriv[2], setpriv[3], "true"]) {
        common::skipped(
            "a_missing_permission_is_73",
            "needs root and setpriv to run as nobody",
        );
        return;
    }
    let dir = scratch("perm");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The binary must be reachable by nobody (the test's target dir may not be). Copied by
    // `cp`, not `std::fs::copy`: a file this multi-threaded process had open for writing could be
    // inherited by another test's fork, and the exec of the copy then fails with ETXTBSY.
    let bin = dir.join("sp-entrypoint");
    let copied = Command::new("cp")
        .arg(common::bin())
        .arg(&bin)
        .status()
        .unwrap();
    assert!(copied.success(), "cp: {copied}");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A root-owned 0700 directory (nobody cannot even look inside) and a root-owned 0755 one
    // (nobody can look, not write).
    let private = dir.join("private");
    let readonly = dir.join("readonly");
    for (d, mode) in [(&private, 0o700), (&readonly, 0o755)] {
        std::fs::create_dir(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let fake = cloud(vec![]);
    for path in [
        private.join("credentials.json"),
        private.join("sub/credentials.json"),
        readonly.join("credentials.json"),
        readonly.join("sub/credentials.json"),
    ] {
        let t =
            Test::new()
                .cloud(&fake)
                .args(["--write-credentials", path.to_str().unwrap(), "true"]);
        // Run the copy, not the original: `sh -c 'shift; exec COPY "$@"' sh ORIGINAL ARGS...`.
        let script = format!("shift; exec {} \"$@\"", bin.display());
        let mut wrapper: Vec<&str> = setpriv.to_vec();
        wrapper.extend(["sh", "-c", &script, "sh"]);
        let (code, stderr) = run_wrapped(&t, &wrapper, None);
        assert_eq!(code, 73, "{}: {stderr}", path.display());
        assert!(
            stderr.contains("cannot write the credentials file")
                && stderr.contains("Permission denied")
                && stderr.contains("permissions"),
            "{}: {stderr}",
            path.display()
        );
    }
    assert_eq!(std::fs::read_dir(&readonly).unwrap().count(), 0);
}

fn creds(token: &str, email: &str) -> Credentials {
    Credentials {
        api_token: Secret::new(token.to_owned()),
        api_url: "https://api.systemprompt.io".into(),
        authenticated_at: "2026-02-01T10:00:00Z".into(),
        user_email: email.into(),
        last_validated_at: Some("2026-02-01T10:00:03Z".into()),
    }
}

/// Whether `text` is one complete credentials file with one of `tokens`.
fn valid(text: &str, tokens: &[String]) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| {
        v["api_token"]
            .as_str()
            .is_some_and(|t| tokens.iter().any(|k| k == t))
            && v["user_email"].is_string()
            && v.as_object().is_some_and(|o| o.len() == 5)
    })
}

#[test]
fn an_existing_file_is_replaced_atomically_under_a_polling_reader() {
    let dir = scratch("atomic");
    let path = dir.join("credentials.json");
    // Contents of very different sizes, so a torn read would show.
    let tokens: Vec<String> = (0..4)
        .map(|i| format!("sp_live_eyJ{}.{}.sig", "a".repeat(10 + i * 3000), i))
        .collect();
    creds(&tokens[0], EMAIL).write_atomic(&path).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (done, reads, path, tokens) =
            (done.clone(), reads.clone(), path.clone(), tokens.clone());
        std::thread::spawn(move || {
            let mut bad = Vec::new();
            while !done.load(Ordering::SeqCst) {
                match std::fs::read_to_string(&path) {
                    Ok(text) if valid(&text, &tokens) => {}
                    Ok(text) => bad.push(format!("torn: {} bytes", text.len())),
                    Err(e) => bad.push(format!("unreadable: {e}")),
                }
                let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
                if !matches!(mode, Ok(0o600)) {
                    bad.push(format!("mode {mode:?}"));
                }
                reads.fetch_add(1, Ordering::SeqCst);
            }
            bad
        })
    };
    // Start writing once the reader is reading (polling, with a deadline).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while reads.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    for i in 0..200 {
        creds(&tokens[i % tokens.len()], &format!("user{i}@example.com"))
            .write_atomic(&path)
            .unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let bad = reader.join().unwrap();
    assert!(
        bad.is_empty(),
        "{} torn or missing reads, the first: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
    assert!(reads.load(Ordering::SeqCst) > 0);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("user199@example.com")
    );
    // No temporary file left behind: the file and its .gitignore.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn two_entrypoints_writing_the_same_path_at_once_leave_a_valid_file() {
    let dir = scratch("race");
    let path = dir.join("state/credentials.json");
    let fakes = [cloud(vec![]), cloud(vec![])];
    let emails = ["first@example.com", "second@example.com"];
    let tokens: Vec<String> = fakes
        .iter()
        .zip(emails)
        .map(|(f, e)| f.token(e, 86_400))
        .collect();
    for round in 0..10 {
        let children: Vec<_> = (0..2)
            .map(|i| {
                Test::new()
                    .url(&fakes[i])
                    .token(&tokens[i])
                    .env("SYSTEMPROMPT_USER_EMAIL", emails[i])
                    .args(["--write-credentials", path.to_str().unwrap(), "true"])
                    .command()
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "round {round}: {stderr}");
            for t in &tokens {
                common::assert_no_trace(t, &stderr, "stderr");
            }
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(valid(&text, &tokens), "round {round}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        // The token and the email are from the same writer.
        let i = tokens
            .iter()
            .position(|t| v["api_token"] == t.as_str())
            .unwrap();
        assert_eq!(v["user_email"], emails[i]);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "temporary files left: {names:?}");
}

#[test]
fn check_never_persists_credentials_whoami_refused() {
    // A 401, an email mismatch, an untrusted certificate: neither `check` nor an app run
    // writes the file.
    type Setup = fn() -> (common::FakeCloud, Test, i32);
    let setups: [Setup; 3] = [
        || {
            let fake = cloud(vec![Step::status(401), Step::status(401)]);
            let t = Test::new().cloud(&fake);
            (fake, t, 77)
        },
        || {
            let fake = cloud(vec![]);
            let token = fake.token("someone.else@example.com", 86_400);
            let t = Test::new()
                .url(&fake)
                .token(&token)
                .env("SYSTEMPROMPT_USER_EMAIL", EMAIL);
            (fake, t, 77)
        },
        || {
            let fake = tls_cloud(vec![]);
            let t = Test::new().cloud(&fake).env_remove("SSL_CERT_FILE");
            (fake, t, 69)
        },
    ];
    for (i, setup) in setups.into_iter().enumerate() {
        for tail in [&["check"][..], &["check", "--json"], &["true"]] {
            let dir = scratch("refused");
            let path = dir.join("creds/credentials.json");
            let (_fake, t, code) = setup();
            t.args(["--write-credentials", path.to_str().unwrap()])
                .args(tail.iter().copied())
                .run()
                .code(code);
            assert!(
                !path.exists(),
                "case {i} {tail:?}: the refused credentials were written"
            );
        }
    }
}

#[test]
fn only_the_escape_hatch_persists_unvalidated_credentials_with_a_null_validation_time() {
    for (tail, code) in [(&["true"][..], 0), (&["check"][..], 77)] {
        let fake = cloud(vec![Step::status(401)]);
        let dir = scratch("hatch");
        let path = dir.join("credentials.json");
        let t = Test::new()
            .cloud(&fake)
            .env("SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS", "1");
        let token = t.secrets()[0].clone();
        t.args(["--write-credentials", path.to_str().unwrap()])
            .args(tail.iter().copied())
            .run()
            .code(code);
        let file: serde_json::Value =
            serde_json::from_str(&common::read(&path)).expect("the file is JSON");
        assert_eq!(file["api_token"], token.as_str());
        assert!(file["last_validated_at"].is_null(), "{tail:?}: {file}");
    }
}

#[test]
fn existing_non_regular_targets_are_refused_with_73_and_left_as_they_were() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch("non-regular");
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let socket = dir.join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let dev_null = std::path::PathBuf::from("/dev/null");
    let fake = cloud(vec![]);
    for target in [&fifo, &socket, &dev_null] {
        for tail in [&["check"][..], &["true"]] {
            Test::new()
                .cloud(&fake)
                .args(["--write-credentials", target.to_str().unwrap()])
                .args(tail.iter().copied())
                .run()
                .code(73)
                .stderr_has("not a regular file");
        }
    }
    let kind = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap().file_type();
    assert!(kind(&fifo).is_fifo());
    assert!(kind(&socket).is_socket());
    assert!(kind(&dev_null).is_char_device());
    assert_eq!(std::fs::metadata(&dev_null).unwrap().len(), 0);
}
