//! The administration commands of the real `linli` binary, against the same data directory as a running server:
//! `user add` creates a user, `device enrol` prints a code that a phone exchanges over HTTP, and `token revoke`
//! cuts that phone off at once, while the server runs; `user unthrottle` lets an admin kept out by someone guessing at
//! their password back in.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn linli(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_linli"))
        .args(args)
        .env("LINLI_DATA_DIR", dir)
        .env("LINLI_LOG", "warn")
        .output()
        .expect("linli runs");
    assert!(
        out.status.success(),
        "linli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string()
}

/// Starts `linli serve` with extra variables; returns the process (its stderr still piped) and the base URL.
fn serve(dir: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_linli"))
        .arg("serve")
        .envs(env.iter().copied())
        .env("LINLI_DATA_DIR", dir)
        .env("LINLI_BIND", "127.0.0.1:0")
        .env("LINLI_WORKERS", "1")
        .env("LINLI_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("linli starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address line");
    let base = line
        .trim()
        .strip_prefix("linli listening on ")
        .expect("address")
        .to_string();
    (child, base)
}

/// Kills the server and returns everything it wrote to stderr.
fn stop(mut child: Child) -> String {
    child.kill().expect("stop");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    child.wait().expect("reaped");
    err
}

async fn post(base: &str, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("sent");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn cli_users_codes_and_revocation_work_alongside_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let user_id = linli(
        dir.path(),
        &["user", "add", "--username", "lihua", "--role", "volunteer"],
    );
    assert_eq!(user_id.len(), 36, "prints the new user's id: {user_id}");

    // No admin yet and no LINLI_ADMIN_PASSWORD: the server prints a one-time password once.
    let (server, base) = serve(dir.path(), &[]);
    let mut first = String::new();
    let mut server = server;
    BufReader::new(server.stderr.as_mut().expect("stderr"))
        .read_line(&mut first)
        .expect("first admin line");
    assert!(first.contains("one-time password"), "{first}");
    let password = first
        .split('`')
        .nth(3)
        .expect("password in backticks")
        .to_string();
    let (status, login) = post(
        &base,
        "/v1/auth/login",
        None,
        json!({"username": "admin", "password": password}),
    )
    .await;
    assert_eq!(status, 200, "{login:#}");

    let code = linli(
        dir.path(),
        &[
            "device",
            "enrol",
            "--username",
            "lihua",
            "--label",
            "Li Hua's phone",
        ],
    );
    let (status, phone) = post(&base, "/v1/devices/enrol", None, json!({"code": code})).await;
    assert_eq!(status, 201, "{phone:#}");
    assert_eq!(phone["user_id"], json!(user_id));
    let token = phone["access_token"].as_str().expect("token").to_string();
    let sync = json!({"protocol": 1, "cursor": 0});
    assert_eq!(
        post(&base, "/v1/sync", Some(&token), sync.clone()).await.0,
        200
    );

    let device = phone["device_id"].as_str().expect("device");
    let out = linli(dir.path(), &["token", "revoke", "--device", device]);
    assert!(out.contains(device), "{out}");
    let (status, problem) = post(&base, "/v1/sync", Some(&token), sync).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("device_revoked"))
    );

    stop(server);
    // A second start finds the admin and prints no password; SIGTERM stops it cleanly.
    let (mut again, base) = serve(dir.path(), &[]);
    assert_eq!(
        post(
            &base,
            "/v1/auth/login",
            None,
            json!({"username": "admin", "password": password})
        )
        .await
        .0,
        200
    );
    let term = Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let exit = again.wait().expect("exits");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut again.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(!err.contains("password"), "{err}");
}

/// The way out of the lockout an attacker could otherwise impose: the only admin's username is throttled by guesses,
/// so no admin can log in to lift it over HTTP; on the server machine `linli user unthrottle` does.
#[actix_web::test]
async fn the_cli_lets_the_only_admin_back_in_while_someone_guesses_at_their_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, base) = serve(
        dir.path(),
        &[
            ("LINLI_ADMIN_PASSWORD", "the admin's passphrase"),
            ("LINLI_LOGIN_USER_BURST", "2"),
        ],
    );
    let login = |password: &'static str| {
        let base = base.clone();
        async move {
            post(
                &base,
                "/v1/auth/login",
                None,
                json!({"username": "admin", "password": password}),
            )
            .await
        }
    };
    assert_eq!(login("guess 1").await.0, 401);
    assert_eq!(login("guess 2").await.0, 401);
    let (status, problem) = login("the admin's passphrase").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (429, Some("too_many_attempts"))
    );

    let out = linli(dir.path(), &["user", "unthrottle", "--username", "admin"]);
    assert!(out.contains("lifted"), "{out}");
    // The server reads lifts at most once a second, while it refuses logins.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        let (status, _) = login("the admin's passphrase").await;
        if status != 429 || std::time::Instant::now() > deadline {
            break status;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(status, 200);
    stop(server);
}
