//! The demo a newcomer runs: `linli-demo --exit` plays the whole pilot field day on a fresh temporary database and
//! prints the dashboard URL and the admin logins (the demo checks convergence and the model's totals itself, in
//! both of its communities), with the pilot's linked bodies and its council decision.

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
    // The cooperative's 7 linked bodies as the server holds them (counted from its merged state), the agencies
    // report's dispatches of the day (law enforcement 2, water 1, police 1: the reassigned one counts for both),
    // and the deliberation clinic's decision linked to its ticket.
    assert!(
        stdout.contains("linked bodies          7 (4 dispatches, 1 reassigned)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("council decisions      1 (幸福里社区议事门诊 20"),
        "{stdout}"
    );
    assert!(stdout.contains(", 1 ticket)"), "{stdout}");
    assert!(
        stdout.contains("Dashboard:   http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "Admin login: username `admin` (幸福里社区), `admin-2` (和平里社区) or `district` (城东街道, both),"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("password `demo-"), "{stdout}");
    // The street office's second community, seeded and synced beside the pilot.
    assert!(
        stdout.contains("Second community (和平里社区): 24 door-knock visits by 7 phones"),
        "{stdout}"
    );
}
