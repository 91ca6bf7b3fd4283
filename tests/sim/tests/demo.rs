//! The demo a newcomer runs: `linli-demo --exit` plays the whole pilot field day on a fresh temporary database and
//! prints the dashboard URL and an admin login (the demo checks convergence and the model's totals itself).

use std::process::Command;

#[test]
fn the_demo_plays_the_pilot_day_and_prints_the_dashboard_and_login() {
    let out = Command::new(env!("CARGO_BIN_EXE_linli-demo"))
        .arg("--exit")
        .env("LINLI_DEMO_BIND", "127.0.0.1:0")
        .output()
        .expect("linli-demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("door-knock visits      63"), "{stdout}");
    assert!(
        stdout.contains("Dashboard:   http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Admin login: username `admin`, password `demo-"),
        "{stdout}"
    );
}
