//! The report endpoints and the fee ledger over real HTTP: figures of a seeded world (worked out by hand in the
//! comments), scoping by role and grid cell, CSV exports, bad parameters, the dues import (all or nothing) and cash
//! payments feeding the collection rate together with a green-card fee offset.

use linli_reports::calendar::date_of;
use linli_server::config::Config;
use linli_sync_core::grid::Household;
use linli_sync_core::prelude::*;
use serde_json::json;

use crate::common::{TestApp, World};

const MIN: u64 = 60_000;

/// `from`/`to` covering yesterday and today (local), so times a few hours ago are inside whatever the hour.
fn range() -> String {
    let now = linli_server::now_ms();
    format!(
        "from={}&to={}",
        date_of(now - 86_400_000, 480),
        date_of(now, 480)
    )
}

pub(crate) async fn seeded(app: &TestApp) -> World {
    let mut w = World::build(app).await;
    let base = linli_server::now_ms() - 3 * 60 * MIN;
    let create = |g: GridId| crate::common::ticket_create(g);
    // Ticket A in g1 by the grid worker: taken, on site exactly 5:00 later (met), solved.
    let a = TicketId::random();
    let ops = vec![
        w.worker.writer.op(base, OpBody::Ticket(a, create(w.g1))),
        w.worker.writer.op(
            base + MIN,
            OpBody::Ticket(a, TicketOp::Take(Note::default())),
        ),
        w.worker.writer.op(
            base + 6 * MIN,
            OpBody::Ticket(a, TicketOp::Arrive(Note::default())),
        ),
        w.worker.writer.op(
            base + 10 * MIN,
            OpBody::Ticket(a, TicketOp::Solve(Note::default())),
        ),
    ];
    app.push_ok(&w.worker, &ops).await;
    // Ticket B in g2 by the admin's phone: on site 6 minutes after taking (missed). The phone's clock already
    // passed `now` while building the world, and an HLC never goes back, so these back-dated events get a writer
    // with a fresh clock (same device and user).
    w.admin.writer = Writer::new(
        w.admin.id,
        w.admin.user,
        HlcClock::new(DriftPolicy::DEFAULT),
    );
    let b = TicketId::random();
    let ops = vec![
        w.admin.writer.op(base, OpBody::Ticket(b, create(w.g2))),
        w.admin.writer.op(
            base + MIN,
            OpBody::Ticket(b, TicketOp::Take(Note::default())),
        ),
        w.admin.writer.op(
            base + 7 * MIN,
            OpBody::Ticket(b, TicketOp::Arrive(Note::default())),
        ),
    ];
    app.push_ok(&w.admin, &ops).await;
    w
}

#[actix_web::test]
async fn reports_match_the_seeded_figures_and_respect_scope() {
    let app = TestApp::spawn().await;
    let w = seeded(&app).await;
    let q = range();

    // Admin: both tickets; on site met 1 of 2.
    let r = app
        .get(
            &format!("/v1/reports/compliance?{q}"),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["overall"]["tickets"], json!(2));
    assert_eq!(r.body["overall"]["on_site"]["met"]["numerator"], json!(1));
    assert_eq!(r.body["overall"]["on_site"]["met"]["denominator"], json!(2));
    assert_eq!(r.body["basis"]["time"], json!("device_event_time"));
    let health = app.get("/healthz", Some(&app.admin_token)).await;
    assert_eq!(
        r.body["basis"]["complete_up_to_seq"],
        health.body["last_seq"]
    );

    // The grid worker sees only g1: one ticket, on site at exactly 5:00, met.
    let r = app
        .get(
            &format!("/v1/reports/compliance?{q}"),
            Some(&w.worker.token),
        )
        .await;
    assert_eq!(r.body["overall"]["tickets"], json!(1));
    assert_eq!(r.body["overall"]["on_site"]["median_ms"], json!(5 * MIN));
    let r = app
        .get(
            &format!("/v1/reports/outcomes?{q}&grid={}", w.g2),
            Some(&w.worker.token),
        )
        .await;
    r.assert_problem(403, "out_of_scope");
    let r = app.get("/v1/reports/grids", Some(&w.worker.token)).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1));
    assert_eq!(r.body[0]["id"], json!(w.g1.to_string()));

    // A volunteer gets no reports.
    app.get(
        &format!("/v1/reports/compliance?{q}"),
        Some(&w.butler.token),
    )
    .await
    .assert_problem(403, "forbidden");
    app.get(&format!("/v1/reports/compliance?{q}"), None)
        .await
        .assert_problem(401, "missing_token");

    // Outcomes: A solved (resolved), B not.
    let r = app
        .get(&format!("/v1/reports/outcomes?{q}"), Some(&app.admin_token))
        .await;
    assert_eq!(r.body["rates"]["resolution"]["numerator"], json!(1));
    assert_eq!(r.body["rates"]["resolution"]["denominator"], json!(2));

    // Coverage today: both elderly households (h1, h2) missed.
    let today = date_of(linli_server::now_ms(), 480);
    let r = app
        .get(
            &format!("/v1/reports/coverage?day={today}"),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(r.body["households"], json!(2));
    assert_eq!(r.body["visited"]["numerator"], json!(0));

    // CSV: a spreadsheet file with a byte-order mark.
    let r = app
        .get(
            &format!("/v1/reports/compliance?{q}&format=csv"),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "text/csv; charset=utf-8");
    let text = r.body.as_str().expect("text");
    assert!(text.starts_with('\u{feff}'), "BOM first");
    assert!(text.contains("\r\nall,all,2,1,2,50.0,"), "{text}");

    // Bad parameters: typed errors naming the parameter.
    app.get(
        "/v1/reports/compliance?to=2026-11-27",
        Some(&app.admin_token),
    )
    .await
    .assert_problem(400, "invalid_query");
    let r = app
        .get(
            "/v1/reports/compliance?from=2026-02-30&to=2026-03-01",
            Some(&app.admin_token),
        )
        .await;
    r.assert_problem(400, "invalid_query");
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("`from`"))
    );
    app.get(
        "/v1/reports/compliance?from=2026-03-02&to=2026-03-01",
        Some(&app.admin_token),
    )
    .await
    .assert_problem(400, "invalid_query");
    app.get(
        &format!("/v1/reports/outcomes?{q}&grid=nope"),
        Some(&app.admin_token),
    )
    .await
    .assert_problem(400, "invalid_query");
    app.get(
        &format!("/v1/reports/outcomes?{q}&format=xlsx"),
        Some(&app.admin_token),
    )
    .await
    .assert_problem(400, "invalid_query");
    app.get("/v1/reports/ranking?month=2026-13", Some(&app.admin_token))
        .await
        .assert_problem(400, "invalid_query");
    app.get("/v1/reports/teleport", Some(&app.admin_token))
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn linked_bodies_and_councils_reports_over_http() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let base = linli_server::now_ms() - 3 * 60 * MIN;
    // Back-dated events: a writer with a fresh clock for the admin's device (see `seeded`).
    w.admin.writer = Writer::new(
        w.admin.id,
        w.admin.user,
        HlcClock::new(DriftPolicy::DEFAULT),
    );
    let (x, y, k) = (AgencyId::random(), AgencyId::random(), DecisionId::random());
    let (t, u) = (TicketId::random(), TicketId::random());
    let agency = |name: &str, kind| {
        OpBody::Agency(
            x,
            AgencyOp::Create(AgencyCreate {
                name: name.into(),
                kind,
                contact_role: "值班室".into(),
                categories: vec!["downpipe".into()],
            }),
        )
    };
    let step = |agency| AgencyStep {
        agency,
        note: None,
        public: false,
    };
    let mut y_create = agency("城东派出所", AgencyKind::Police);
    if let OpBody::Agency(id, _) = &mut y_create {
        *id = y;
    }
    let ops = vec![
        w.admin
            .writer
            .op(base, agency("综合行政执法局", AgencyKind::LawEnforcement)),
        w.admin.writer.op(base, y_create),
        w.admin.writer.op(
            base,
            OpBody::Decision(
                k,
                DecisionOp::Record(DecisionRecord {
                    date: date_of(base, 480),
                    council: Council::DeliberationClinic,
                    council_name: "社区议事门诊".into(),
                    text: "由执法局清理违建，物业配合".into(),
                }),
            ),
        ),
        // T: dispatched to X a minute in, accepted 10 minutes later, completed an hour after dispatch; linked to
        // the clinic's decision two hours after creation.
        w.admin
            .writer
            .op(base, OpBody::Ticket(t, crate::common::ticket_create(w.g1))),
        w.admin
            .writer
            .op(base + MIN, OpBody::Ticket(t, TicketOp::Dispatch(step(x)))),
        w.admin.writer.op(
            base + 11 * MIN,
            OpBody::Ticket(t, TicketOp::AgencyAccept(step(x))),
        ),
        w.admin.writer.op(
            base + 61 * MIN,
            OpBody::Ticket(t, TicketOp::AgencyComplete(step(x))),
        ),
        w.admin.writer.op(
            base + 120 * MIN,
            OpBody::Ticket(t, TicketOp::Decide { decision: k }),
        ),
        // U: dispatched to X, reassigned to Y a minute later; nothing since (within both SLAs: pending).
        w.admin
            .writer
            .op(base, OpBody::Ticket(u, crate::common::ticket_create(w.g2))),
        w.admin
            .writer
            .op(base + MIN, OpBody::Ticket(u, TicketOp::Dispatch(step(x)))),
        w.admin.writer.op(
            base + 2 * MIN,
            OpBody::Ticket(u, TicketOp::Dispatch(step(y))),
        ),
    ];
    app.push_ok(&w.admin, &ops).await;
    let q = range();

    let r = app
        .get(&format!("/v1/reports/agencies?{q}"), Some(&app.admin_token))
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["accept_sla_ms"], json!(86_400_000));
    // By name: 城东派出所 (Y) before 综合行政执法局 (X).
    let (ry, rx) = (&r.body["agencies"][0], &r.body["agencies"][1]);
    assert_eq!(rx["name"], json!("综合行政执法局"));
    // X: two dispatches (T, U), T accepted after 10 min and completed after 60; U reassigned.
    assert_eq!(
        [
            &rx["dispatched"],
            &rx["accepted"],
            &rx["completed"],
            &rx["open"],
            &rx["reassigned"]
        ],
        [&json!(2), &json!(1), &json!(1), &json!(0), &json!(1)]
    );
    assert_eq!(rx["acceptance"]["median_ms"], json!(10 * MIN));
    assert_eq!(rx["completion"]["p90_ms"], json!(60 * MIN));
    assert_eq!(rx["acceptance"]["on_time"]["denominator"], json!(1));
    assert_eq!(rx["kind"], json!("law_enforcement"));
    // Y: U, open and pending.
    assert_eq!(ry["name"], json!("城东派出所"));
    assert_eq!([&ry["dispatched"], &ry["open"]], [&json!(1), &json!(1)]);
    assert_eq!(ry["acceptance"]["on_time"]["denominator"], json!(0));
    assert_eq!(r.body["overdue"], json!([]));
    // The grid worker sees g1 only: X's dispatch of T, nothing for Y.
    let r = app
        .get(&format!("/v1/reports/agencies?{q}"), Some(&w.worker.token))
        .await;
    assert_eq!(r.body["agencies"][0]["dispatched"], json!(0));
    assert_eq!(r.body["agencies"][1]["dispatched"], json!(1));
    let r = app
        .get(
            &format!("/v1/reports/agencies?{q}&format=csv"),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "text/csv; charset=utf-8");
    let text = r.body.as_str().expect("text");
    assert!(
        text.starts_with("\u{feff}agency 联动单位,kind 类型,"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "\r\n综合行政执法局,law_enforcement,2,1,1,0,1,1,1,100.0,0.2,0.2,0,1,1,100.0,1.0,1.0,0,{x}\r\n"
        )),
        "{text}"
    );

    // Councils: T is complex by its decision (U is small): 1 of 1 decided, 2 h from creation to decision.
    let r = app
        .get(&format!("/v1/reports/councils?{q}"), Some(&app.admin_token))
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["complex"], json!(1));
    assert_eq!(r.body["decided"]["numerator"], json!(1));
    assert_eq!(r.body["to_decision"]["median_ms"], json!(120 * MIN));
    assert_eq!(
        r.body["by_council"][1]["council"],
        json!("deliberation_clinic")
    );
    assert_eq!(r.body["by_council"][1]["tickets"], json!(1));
    assert_eq!(
        r.body["decisions"][0]["council_name"],
        json!("社区议事门诊")
    );
    assert_eq!(r.body["decisions"][0]["tickets"], json!([t.to_string()]));
    let r = app
        .get(
            &format!("/v1/reports/councils?{q}&format=csv"),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(r.status, 200);
    let text = r.body.as_str().expect("text");
    assert!(
        text.contains("\r\nall,,,,1,1,100.0,2.0,2.0,,,\r\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("由执法局清理违建，物业配合,{t}\r\n")),
        "{text}"
    );

    // The linked bodies' group of the red/black list: X has 2 dispatches, under the minimum volume 3.
    let month = &date_of(base, 480)[..7];
    let r = app
        .get(
            &format!("/v1/reports/ranking?month={month}"),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["agencies"], json!([]));
    assert_eq!(r.body["agency_weights"]["on_time_completion"], json!(0.5));
}

#[actix_web::test]
async fn fee_ledger_import_payments_and_offsets_make_the_collection_rate() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    // Two households with distinct addresses in g1.
    let (ha, hb) = (HouseholdId::random(), HouseholdId::random());
    let mut ops = Vec::new();
    for (h, room) in [(ha, "501"), (hb, "502")] {
        ops.push(w.admin.op(OpBody::Grid(
            w.g1,
            GridOp::AddHousehold {
                household: h,
                details: Household {
                    building: "5".into(),
                    unit: "1".into(),
                    room: room.into(),
                    elderly_alone: false,
                    contact_name: None,
                },
            },
        )));
    }
    app.push_ok(&w.admin, &ops).await;

    // The CLI imports the property office's file; a file with a bad row imports nothing.
    let config = Config {
        database_url: app.db_path.to_string_lossy().into_owned(),
        ..Config::default()
    };
    let dir = tempfile::tempdir().expect("dir");
    let import = |text: &str, name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let cli = <linli_server::cli::Cli as clap::Parser>::try_parse_from([
            "linli",
            "fees",
            "import",
            path.to_str().expect("utf8"),
        ])
        .expect("parses");
        linli_server::cli::run(cli, config.clone())
    };
    let bad = "\u{feff}楼号,单元,房号,期间,应收金额\n5,1,501,2026-11,100\n5,1,599,2026-11,100\n";
    assert!(import(bad, "bad.csv").is_err());
    let dues_rows = || {
        use diesel::prelude::*;
        linli_server::db::schema::fee_dues::table
            .count()
            .get_result::<i64>(&mut app.db())
            .expect("count")
    };
    assert_eq!(dues_rows(), 0, "nothing half-imported");
    let good =
        "\u{feff}楼号,单元,房号,期间,应收金额\n5,1,501,2026-11,100\n5,1,502,2026-11,100.00\n";
    import(good, "good.csv").expect("imported");
    assert_eq!(dues_rows(), 2);
    // Importing again replaces, never doubles.
    import(good, "good.csv").expect("imported again");
    assert_eq!(dues_rows(), 2);

    // The property office records 100 yuan cash from household B.
    let pay = |body| app.post("/v1/fees/payments", Some(&app.admin_token), body);
    let r =
        pay(json!({"household": hb.to_string(), "period": "2026-11", "amount_fen": 10_000})).await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    pay(json!({"household": hb.to_string(), "period": "2026-13", "amount_fen": 1}))
        .await
        .assert_problem(400, "invalid_request");
    pay(json!({"household": HouseholdId::random().to_string(), "period": "2026-11", "amount_fen": 1})).await.assert_problem(404, "not_found");
    app.post(
        "/v1/fees/payments",
        Some(&w.worker.token),
        json!({"household": hb.to_string(), "period": "2026-11", "amount_fen": 1}),
    )
    .await
    .assert_problem(403, "forbidden");

    // Household A's fee is offset with 8 green-card points: the butler's activity of 59 whole minutes is approved
    // (9 points), the server grants them to the admin's phone, which redeems 8.
    w.approved_activity(&app).await;
    let r = app
        .post(
            &format!("/v1/cards/{}/grants", w.butler.user),
            Some(&app.admin_token),
            json!({"device_id": w.admin.id.to_string(), "points": 9}),
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    let redeem = w.admin.op(OpBody::Card(
        w.butler.user,
        CardOp::Redeem {
            points: Points(8),
            seq: 1,
            purpose: Purpose::FeeOffset {
                household: ha,
                period: "2026-11".into(),
            },
        },
    ));
    app.push_ok(&w.admin, &[redeem]).await;

    // Due 200 yuan; cash 100; offset 8 points × 1 yuan = 8: rate 108/200 = 54 %.
    let r = app
        .get(
            "/v1/reports/fees?from=2026-11&to=2026-11",
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    let community = r.body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["level"] == "community")
        .cloned()
        .expect("community row");
    assert_eq!(community["due_fen"], json!(20_000));
    assert_eq!(community["cash_fen"], json!(10_000));
    assert_eq!(community["offset_fen"], json!(800));
    assert_eq!(community["rate"]["value"], json!(0.54));
    let csv = app
        .get(
            "/v1/reports/fees?from=2026-11&to=2026-11&format=csv",
            Some(&app.admin_token),
        )
        .await;
    assert!(
        csv.body
            .as_str()
            .is_some_and(|t| t.contains("200.00,100.00,8.00,54.0")),
        "{:#}",
        csv.body
    );
    // Hours: 59 approved minutes for the butler, 9 credited, 8 redeemed, balance 1.
    let r = app
        .get(
            &format!("/v1/reports/hours?{}", range()),
            Some(&app.admin_token),
        )
        .await;
    let card = r.body["cards"]
        .as_array()
        .expect("cards")
        .iter()
        .find(|c| c["volunteer"] == json!(w.butler.user.to_string()))
        .cloned()
        .expect("card");
    assert_eq!(
        (
            card["credited"].clone(),
            card["redeemed"].clone(),
            card["balance"].clone()
        ),
        (json!(9), json!(8), json!(1))
    );
}

#[actix_web::test]
async fn the_dashboard_page_and_its_assets_are_served() {
    let app = TestApp::spawn().await;
    let page = app.get("/", None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert!(
        page.body
            .as_str()
            .is_some_and(|t| t.contains("/static/vendor/echarts.simple.min.js"))
    );
    for asset in [
        "/static/dashboard.js",
        "/static/dashboard.css",
        "/static/vendor/echarts.simple.min.js",
    ] {
        let r = app.get(asset, None).await;
        assert_eq!(r.status, 200, "{asset}");
    }
    app.get("/static/../Cargo.toml", None)
        .await
        .assert_problem(404, "not_found");
}
