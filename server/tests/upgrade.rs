//! Upgrade in place (issue #11, item 6): a database written with the schema of the single-community release
//! (every migration before `communities`) — a week of a community's ops, users, devices, an enrolment code, a
//! refresh token, card rows and the fee ledger — becomes community 1, with nothing lost: every op at its sequence
//! number with its stored text, every account, device, balance and report figure, and the community writes on.
//!
//! The same upgrade runs the lean op log migration (issue 11 item 7) after it: the ops come back from the lean rows
//! (and through a pull) byte for byte as the previous release stored them, the server's own ops (pushed by no phone)
//! and a newer phone's op with an unknown top-level member among them, and the visits report rows keep every id; going
//! down again gives the previous release's text back, byte for byte.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_migrations::MigrationHarness;
use linli_reports::fees::{CashPayment, FeeDue, Ledger};
use linli_reports::{Basis, Filter, ReportPolicy, fees, hours};
use linli_server::community::{self, CommunityId};
use linli_server::db::{self, SQLITE_MIGRATIONS};
use linli_server::engine::Engines;
use linli_server::{identity, ledger, store};
use linli_sync_core::prelude::*;
use linli_sync_core::test_support::community_year;

/// The first migration of the multi-community schema: everything before it is the previous release's schema.
const FIRST_NEW: &str = "2026-12-02-000000_communities";
/// The lean op log's migration.
const LEAN: &str = "2026-12-02-000200_lean_op_log";
const DAY: u64 = 86_400_000;
/// The migration that keys dues by community and keeps the household claims.
const FEE_DUES_BY_COMMUNITY: &str = "2026-12-02-000300_fee_dues_by_community";
/// Every due, as `household period amount community`, in one order.
const DUES: &str = "SELECT household || ' ' || period || ' ' || amount_fen || ' ' || community_id AS a, \
                    imported_ms AS n FROM fee_dues ORDER BY household, period, community_id";

/// A migration's version (as diesel gives it back, without dashes) from its directory name.
fn version_of(name: &str) -> String {
    name.split('_').next().expect("version").replace('-', "")
}

/// Runs every migration that sorts before `name`, and no other.
fn migrate_to_before(conn: &mut SqliteConnection, name: &str) {
    loop {
        let pending = conn.pending_migrations(SQLITE_MIGRATIONS).expect("pending");
        let next = pending.first().expect("the migration is pending");
        if next.name().to_string().as_str() >= name {
            return;
        }
        conn.run_next_migration(SQLITE_MIGRATIONS)
            .expect("earlier migration");
    }
}

fn old_schema(conn: &mut SqliteConnection) {
    migrate_to_before(conn, FIRST_NEW);
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Row {
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    n: Option<i64>,
}

fn rows(conn: &mut SqliteConnection, sql: &str) -> Vec<Row> {
    diesel::sql_query(sql).load(conn).expect(sql)
}

#[test]
fn a_single_community_database_becomes_community_1_with_nothing_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = dir
        .path()
        .join("linli.sqlite3")
        .to_string_lossy()
        .into_owned();
    let year0 = 1_790_000_000_000;
    let mut ops = community_year(year0, 7);
    // A newer phone's op: a top-level member this release does not know, kept verbatim (the lean row keeps its
    // whole JSON).
    ops[5]
        .unknown
        .envelope
        .insert("zone".into(), serde_json::Value::from("东区 3"));
    let mut expected = State::new(Rules::DEFAULT);
    for op in &ops {
        expected.apply(op);
    }
    let households: Vec<HouseholdId> = ops
        .iter()
        .filter_map(|op| match &op.body {
            OpBody::Grid(_, GridOp::AddHousehold { household, .. }) => Some(*household),
            _ => None,
        })
        .collect();
    // Dues for every other household only: the rest are known from their grid cell (and a payment) alone.
    let dues: Vec<FeeDue> = households
        .iter()
        .step_by(2)
        .map(|h| FeeDue {
            household: *h,
            period: "2026-11".into(),
            amount_fen: 12_000,
        })
        .collect();
    let payments: Vec<CashPayment> = households
        .iter()
        .step_by(3)
        .map(|h| CashPayment {
            household: *h,
            period: "2026-11".into(),
            amount_fen: 12_000,
        })
        .collect();
    let (admin, worker) = (UserId::random(), UserId::random());
    let device = ReplicaId::random();

    // The previous release's database, written as that release wrote it.
    {
        let mut conn = SqliteConnection::establish(&url).expect("open");
        old_schema(&mut conn);
        conn.batch_execute(&format!(
            "INSERT INTO users VALUES ('{admin}', 'admin', 'admin', '$argon2id$v=19$m=19456,t=2,p=1$x$y', 1);
             INSERT INTO users VALUES ('{worker}', 'worker', 'grid_worker', NULL, 2);
             INSERT INTO devices VALUES ('{device}', '{worker}', 'phone', 3, NULL);
             INSERT INTO enrolment_codes VALUES ('codehash', '{worker}', '{admin}', 'phone', 3, 4, 3, '{device}');
             INSERT INTO refresh_tokens VALUES ('tokenhash', '{device}', 3, 99999999999999, NULL);"
        ))
        .expect("identity");
        conn.transaction(|conn| {
            for (seq, op) in (1i64..).zip(&ops) {
                // Every 97th op as the server's own (stored with the server's device, not the op's replica).
                let pushed_by = if seq % 97 == 0 {
                    ReplicaId::SERVER
                } else {
                    op.replica
                };
                if let OpBody::Entry(entry, EntryOp::Visit(v)) = &op.body {
                    diesel::sql_query("INSERT INTO visits VALUES (?, ?, ?, ?, ?, NULL, ?, ?, 0)")
                        .bind::<Text, _>(entry.to_string())
                        .bind::<Text, _>(v.volunteer.to_string())
                        .bind::<Text, _>(v.grid.to_string())
                        .bind::<Text, _>(v.household.to_string())
                        .bind::<diesel::sql_types::Bool, _>(v.seen)
                        .bind::<Nullable<Text>, _>(v.follow_up.map(|t| t.to_string()))
                        .bind::<BigInt, _>(i64::try_from(op.time.wall_ms).expect("time"))
                        .execute(conn)?;
                }
                diesel::sql_query(
                    "INSERT INTO op_log (seq, op_id, device_id, author, kind, entity, grid, hlc_wall_ms, \
                     hlc_logical, received_ms, body) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
                )
                .bind::<BigInt, _>(seq)
                .bind::<Text, _>(op.id.to_string())
                .bind::<Text, _>(pushed_by.to_string())
                .bind::<Text, _>(op.author.to_string())
                .bind::<Text, _>(op.kind().as_str())
                .bind::<Text, _>(op.body.entity_id().to_string())
                .bind::<BigInt, _>(i64::try_from(op.time.wall_ms).expect("time"))
                .bind::<BigInt, _>(i64::from(op.time.logical))
                .bind::<BigInt, _>(seq)
                .bind::<Text, _>(op.to_json())
                .execute(conn)?;
            }
            for (volunteer, card) in expected.cards() {
                diesel::sql_query("INSERT INTO cards VALUES (?, ?, ?, ?, 0, 1)")
                    .bind::<Text, _>(volunteer.to_string())
                    .bind::<BigInt, _>(i64::try_from(card.credited().0).expect("points"))
                    .bind::<BigInt, _>(i64::try_from(card.redeemed().0).expect("points"))
                    .bind::<BigInt, _>(i64::try_from(card.balance().0).expect("points"))
                    .execute(conn)?;
            }
            for d in &dues {
                diesel::sql_query("INSERT INTO fee_dues VALUES (?, ?, ?, 5)")
                    .bind::<Text, _>(d.household.to_string())
                    .bind::<Text, _>(&d.period)
                    .bind::<BigInt, _>(12_000)
                    .execute(conn)?;
            }
            for (i, p) in payments.iter().enumerate() {
                diesel::sql_query("INSERT INTO fee_payments VALUES (?, ?, ?, ?, ?, 6)")
                    .bind::<Text, _>(format!("payment-{i}"))
                    .bind::<Text, _>(p.household.to_string())
                    .bind::<Text, _>(&p.period)
                    .bind::<BigInt, _>(12_000)
                    .bind::<Text, _>(admin.to_string())
                    .execute(conn)?;
            }
            QueryResult::Ok(())
        })
        .expect("ops, cards and ledger");
    }
    assert!(ops.len() > 10_000, "a week of a community: {}", ops.len());

    // The upgrade: what `linli serve` does on start.
    let pool = db::open(&url, 2).expect("upgraded");
    let mut conn = pool.get().expect("connection");
    let n = i64::try_from(ops.len()).expect("count");
    assert_eq!(store::count(&mut conn).expect("count"), n);
    assert_eq!(
        community::head(&mut conn, CommunityId::FIRST).expect("head"),
        n
    );
    assert_eq!(
        community::list(&mut conn).expect("communities")[0].id,
        CommunityId::FIRST
    );
    // Every op, at its sequence number, as stored (its text byte for byte).
    let stored = store::after(&mut conn, CommunityId::FIRST, 0, i64::MAX).expect("ops");
    let seqs: Vec<i64> = (1..=n).collect();
    let bodies = store::bodies(&mut conn, CommunityId::FIRST, &seqs).expect("bodies");
    for ((k, op), ((seq, back), body)) in ops.iter().enumerate().zip(stored.iter().zip(&bodies)) {
        assert_eq!(*seq, i64::try_from(k).expect("k") + 1);
        assert_eq!(back, op);
        assert_eq!(*body, op.to_json());
    }
    // The lean rows: the newer phone's op whole (format 0), every other op compressed (format 2) or, where that did
    // not pay, its body alone (format 1); the server's own ops name their replica, the others leave it to the device.
    let formats = rows(
        &mut conn,
        "SELECT format || ' ' || (replica IS NULL) AS a, count(*) AS n FROM op_log GROUP BY 1 ORDER BY 1",
    );
    let server_ops = ops
        .iter()
        .enumerate()
        .filter(|(k, op)| (k + 1) % 97 == 0 && op.replica != ReplicaId::SERVER && *k != 5)
        .count();
    assert!(server_ops > 10);
    let count = |a: &str| {
        formats
            .iter()
            .find(|r| r.a == a)
            .and_then(|r| r.n)
            .unwrap_or(0)
    };
    assert_eq!(count("0 1"), 1, "{formats:?}");
    assert_eq!(
        count("2 0") + count("1 0"),
        i64::try_from(server_ops).expect("n")
    );
    // (Bodies of a few bytes, a `ticket.take`'s `{}`, do not shrink: they stay format 1.)
    assert!(count("2 1") > 10_000, "{formats:?}");
    let body_bytes = rows(
        &mut conn,
        "SELECT '' AS a, sum(length(body)) AS n FROM op_log",
    )[0]
    .n
    .expect("bytes");
    let json_bytes: usize = ops.iter().map(|op| op.to_json().len()).sum();
    assert!(
        body_bytes * 5 < i64::try_from(json_bytes).expect("bytes"),
        "bodies {body_bytes} B against {json_bytes} B of JSON"
    );
    // Every visit's report row, its ids now 16 bytes.
    let visits: Vec<Row> = rows(
        &mut conn,
        "SELECT lower(hex(entry_id)) || ' ' || lower(hex(household)) || ' ' || seen AS a, visited_ms AS n \
         FROM visits ORDER BY visited_ms, entry_id",
    );
    let mut want_visits: Vec<Row> = ops
        .iter()
        .filter_map(|op| match &op.body {
            OpBody::Entry(entry, EntryOp::Visit(v)) => Some(Row {
                a: format!(
                    "{} {} {}",
                    entry.0.simple(),
                    v.household.0.simple(),
                    i32::from(v.seen)
                ),
                n: Some(i64::try_from(op.time.wall_ms).expect("time")),
            }),
            _ => None,
        })
        .collect();
    want_visits.sort_by(|x, y| (x.n, &x.a).cmp(&(y.n, &y.a)));
    assert!(want_visits.len() > 1000);
    assert_eq!(visits, want_visits);
    // Every account and device, in community 1; the old secrets still there.
    for (name, id, role) in [
        ("admin", admin, Role::Admin),
        ("worker", worker, Role::GridWorker),
    ] {
        let user = identity::user_by_name(&mut conn, name).expect("user");
        assert_eq!(
            (user.id, user.role, user.community),
            (id, role, Some(CommunityId::FIRST))
        );
    }
    let d = identity::device(&mut conn, device).expect("device");
    assert_eq!((d.user.id, d.revoked), (worker, false));
    assert_eq!(
        rows(
            &mut conn,
            "SELECT device_id || ' ' || token_hash AS a, expires_ms AS n FROM refresh_tokens \
             JOIN devices ON devices.id = refresh_tokens.device_id WHERE devices.community_id = 1"
        ),
        [Row {
            a: format!("{device} tokenhash"),
            n: Some(99_999_999_999_999)
        }]
    );
    assert_eq!(
        rows(
            &mut conn,
            "SELECT code_hash AS a, used_ms AS n FROM enrolment_codes"
        ),
        [Row {
            a: "codehash".into(),
            n: Some(3)
        }]
    );
    // Every card row, now of community 1, with its balance.
    let cards = rows(
        &mut conn,
        "SELECT volunteer || ' ' || community_id AS a, balance AS n FROM cards ORDER BY volunteer",
    );
    let want: Vec<Row> = expected
        .cards()
        .iter()
        .map(|(v, c)| Row {
            a: format!("{v} 1"),
            n: Some(i64::try_from(c.balance().0).expect("points")),
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(cards, want);
    // The fee ledger, as community 1's.
    let book = ledger::load(&mut conn, CommunityId::FIRST).expect("ledger");
    assert_eq!(
        book,
        Ledger {
            dues: dues.clone(),
            payments: payments.clone()
        }
    );
    // The migration claims the households of the fee ledger and of the visit rows, not those known from a grid cell
    // alone.
    let claims =
        "SELECT household AS a, community_id AS n FROM household_community ORDER BY household";
    let mut ledgered: Vec<String> = dues
        .iter()
        .map(|d| d.household.to_string())
        .chain(payments.iter().map(|p| p.household.to_string()))
        .chain(ops.iter().filter_map(|op| match &op.body {
            OpBody::Entry(_, EntryOp::Visit(v)) => Some(v.household.to_string()),
            _ => None,
        }))
        .collect();
    ledgered.sort();
    ledgered.dedup();
    let one = |hs: &[String]| -> Vec<Row> {
        hs.iter()
            .map(|h| Row {
                a: h.clone(),
                n: Some(1),
            })
            .collect()
    };
    assert_eq!(rows(&mut conn, claims), one(&ledgered));
    // The fixture visits every household; a household known from a grid cell alone is one without a claim here:
    // those of the dues only are kept, the rest dropped, for the community's load to claim.
    let due_households: Vec<String> = dues.iter().map(|d| d.household.to_string()).collect();
    assert!(due_households.len() < households.len());
    for h in &ledgered {
        if !due_households.contains(h) {
            diesel::sql_query("DELETE FROM household_community WHERE household = ?")
                .bind::<Text, _>(h)
                .execute(&mut conn)
                .expect("a claim dropped");
        }
    }
    assert!(rows(&mut conn, claims).len() < households.len());
    drop(conn);

    // The community's replica, rebuilt from its log, is the state of every op; its reports are the same figures.
    let engines = Engines::new(pool.clone(), Rules::DEFAULT);
    let engine = engines.get(CommunityId::FIRST).expect("community 1 loads");
    let view = engine.view();
    assert_eq!(view.state, expected);
    assert_eq!(view.last_seq, n);
    drop(view);
    // A pull of the admin's phone delivers every op as the previous release stored it.
    let admin_viewer = Viewer {
        user: admin,
        role: Role::Admin,
    };
    let budget = linli_server::pull::Budget {
        ops: 5000,
        bytes: usize::MAX,
        scan: 100_000,
    };
    let mut pulled = Vec::new();
    let mut cursor = 0;
    loop {
        let page = engine
            .pull(
                admin_viewer,
                &std::collections::HashSet::new(),
                cursor,
                budget,
            )
            .expect("pull");
        pulled.extend(page.ops);
        cursor = page.cursor;
        if !page.has_more {
            break;
        }
    }
    let canonical: Vec<String> = ops.iter().map(Op::to_json).collect();
    assert_eq!(pulled, canonical);
    let view = engine.view();
    // Loading the community claimed the households of its grid cells as well (review of h11r, finding 6).
    let mut all_households: Vec<String> = households.iter().map(|h| h.to_string()).collect();
    all_households.sort();
    assert_eq!(
        rows(&mut pool.get().expect("connection"), claims),
        one(&all_households)
    );
    let policy = ReportPolicy::DEFAULT;
    let basis = Basis::new(u64::try_from(n).expect("n"), year0 + 8 * DAY);
    let all = Filter {
        from_ms: year0,
        to_ms: year0 + 8 * DAY,
        grids: None,
    };
    assert_eq!(
        serde_json::to_value(hours::hours(&view.state, &all, basis.clone())).expect("json"),
        serde_json::to_value(hours::hours(&expected, &all, basis.clone())).expect("json")
    );
    let collected = fees::fees(
        &view.state,
        &book,
        "2026-11",
        "2026-11",
        &Filter::default(),
        &policy,
        basis.clone(),
    );
    assert_eq!(
        serde_json::to_value(&collected).expect("json"),
        serde_json::to_value(fees::fees(
            &expected,
            &Ledger {
                dues: dues.clone(),
                payments
            },
            "2026-11",
            "2026-11",
            &Filter::default(),
            &policy,
            basis
        ))
        .expect("json")
    );
    drop(view);

    // And the community writes on, after its last upgraded op.
    let op = engine
        .issue(
            admin,
            |_| {
                OpBody::Grid(
                    GridId::random(),
                    GridOp::Create {
                        name: "第八网格".into(),
                        community: "幸福里社区".into(),
                    },
                )
            },
            year0 + 8 * DAY,
        )
        .expect("a write after the upgrade");
    let mut conn = pool.get().expect("connection");
    assert_eq!(
        community::head(&mut conn, CommunityId::FIRST).expect("head"),
        n + 1
    );
    assert_eq!(store::copies_of(&mut conn, op.id).expect("copies"), 1);
    drop(conn);
    drop(engine);
    // As a clean shutdown does: the load started its first checkpoint in the background (the log holds more than
    // `LINLI_CHECKPOINT_EVERY` ops); the rollback below must not meet that thread's write lock.
    assert!(
        engines.checkpoint_all(std::time::Duration::from_secs(120)),
        "the checkpoint threads finish"
    );
    drop(engines);
    drop(pool);

    // Down again (a rollback of the release), migration after migration until `communities` itself is undone,
    // however many came after it: one op log, every op still there in its order, every user, every due.
    let mut conn = SqliteConnection::establish(&url).expect("open");
    // The lean op log's compressed bodies inflate only with the server's SQL functions.
    db::sqlite::register_functions(&mut conn).expect("the server's SQL functions");
    let upgraded_dues = rows(&mut conn, DUES);
    assert_eq!(upgraded_dues.len(), dues.len());
    let mut reverted = Vec::new();
    loop {
        let version = conn
            .revert_last_migration(SQLITE_MIGRATIONS)
            .expect("a migration down")
            .to_string()
            .replace('-', "");
        if version == version_of(FEE_DUES_BY_COMMUNITY) {
            // Its down keeps every due (one community's, so no two of one household and period) and drops the
            // household claims.
            assert_eq!(rows(&mut conn, DUES), upgraded_dues);
            assert_eq!(
                rows(
                    &mut conn,
                    "SELECT name AS a, NULL AS n FROM sqlite_master WHERE name = 'household_community'"
                ),
                []
            );
        }
        if version == version_of(LEAN) {
            // The lean op log's down: every op's text as the previous release stored it.
            #[derive(QueryableByName)]
            struct Body {
                #[diesel(sql_type = Text)]
                body: String,
            }
            let texts: Vec<String> = diesel::sql_query("SELECT body FROM op_log ORDER BY seq")
                .load::<Body>(&mut conn)
                .expect("bodies")
                .into_iter()
                .map(|b| b.body)
                .collect();
            assert_eq!(texts.len(), ops.len() + 1);
            assert_eq!(texts[..ops.len()], canonical[..]);
            assert_eq!(texts[ops.len()], op.to_json());
            assert_eq!(
                rows(&mut conn, "SELECT entry_id AS a, NULL AS n FROM visits").len(),
                want_visits.len()
            );
        }
        reverted.push(version.clone());
        if version == version_of(FIRST_NEW) {
            break;
        }
    }
    assert!(
        reverted.contains(&version_of(FEE_DUES_BY_COMMUNITY))
            && reverted.contains(&version_of(LEAN)),
        "{reverted:?}"
    );
    assert_eq!(
        conn.pending_migrations(SQLITE_MIGRATIONS)
            .expect("pending")
            .first()
            .map(|m| m.name().to_string()),
        Some(FIRST_NEW.to_string())
    );
    // The previous release's dues have no community: every due is back, as it was.
    assert_eq!(
        rows(
            &mut conn,
            "SELECT household || ' ' || period || ' ' || amount_fen || ' 1' AS a, imported_ms AS n FROM fee_dues \
             ORDER BY household, period"
        ),
        upgraded_dues
    );
    let logged = rows(
        &mut conn,
        "SELECT op_id AS a, seq AS n FROM op_log ORDER BY seq",
    );
    assert_eq!(logged.len(), ops.len() + 1);
    for (row, (k, op)) in logged.iter().zip(ops.iter().enumerate()) {
        assert_eq!(
            (&row.a, row.n),
            (&op.id.to_string(), Some(i64::try_from(k).expect("k") + 1))
        );
    }
    assert_eq!(
        rows(
            &mut conn,
            "SELECT username AS a, NULL AS n FROM users ORDER BY username"
        )
        .len(),
        2
    );
}

/// Migration `2026-12-02-000300_fee_dues_by_community` on data (review of h11r, finding 2): the household claims are
/// filled from the visits (their ids 16-byte blobs since the lean op log, claimed as text uuids), the dues and the payments (each household once, as the lowest community that has it), the
/// dues are keyed by community and survive the migration both ways, and the down drops the claims.
#[test]
fn the_fee_dues_migration_claims_households_from_visits_dues_and_payments_both_ways() {
    let mut conn = SqliteConnection::establish(":memory:").expect("in-memory database");
    migrate_to_before(&mut conn, FEE_DUES_BY_COMMUNITY);
    conn.batch_execute(
        "INSERT INTO communities (id, name, street_office, created_ms) VALUES (2, '和平里社区', '城东街道', 0);
         INSERT INTO visits (entry_id, volunteer, grid, household, seen, visited_ms, voided, community_id)
             VALUES ('v1', 'u1', 'g1', unhex('00000000000040008000000000000001'), 1, 10, 0, 1),
                    ('v2', 'u2', 'g2', unhex('00000000000040008000000000000006'), 1, 11, 0, 2);
         INSERT INTO fee_dues (household, period, amount_fen, imported_ms, community_id)
             VALUES ('00000000-0000-4000-8000-000000000002', '2026-11', 100, 5, 1), ('00000000-0000-4000-8000-000000000003', '2026-11', 200, 5, 2),
                    ('00000000-0000-4000-8000-000000000004', '2026-10', 300, 5, 2), ('00000000-0000-4000-8000-000000000004', '2026-11', 400, 6, 1);
         INSERT INTO fee_payments (id, household, period, amount_fen, recorded_by, recorded_ms, community_id)
             VALUES ('p1', '00000000-0000-4000-8000-000000000005', '2026-11', 50, 'u2', 7, 2), ('p2', '00000000-0000-4000-8000-000000000001', '2026-11', 60, 'u2', 8, 2);",
    )
    .expect("rows of the schema before the migration");
    let before = rows(&mut conn, DUES);
    assert_eq!(before.len(), 4);
    let claims =
        "SELECT household AS a, community_id AS n FROM household_community ORDER BY household";
    let migrated = conn
        .run_next_migration(SQLITE_MIGRATIONS)
        .expect("fee dues by community up")
        .to_string()
        .replace('-', "");
    assert_eq!(migrated, version_of(FEE_DUES_BY_COMMUNITY));
    let claim = |h: &str, c: i64| Row {
        a: h.into(),
        n: Some(c),
    };
    // h1: visited by community 1, paid for in community 2: the lowest. h4: due in both, community 1's.
    assert_eq!(
        rows(&mut conn, claims),
        [
            claim("00000000-0000-4000-8000-000000000001", 1),
            claim("00000000-0000-4000-8000-000000000002", 1),
            claim("00000000-0000-4000-8000-000000000003", 2),
            claim("00000000-0000-4000-8000-000000000004", 1),
            claim("00000000-0000-4000-8000-000000000005", 2),
            claim("00000000-0000-4000-8000-000000000006", 2)
        ]
    );
    assert_eq!(rows(&mut conn, DUES), before);
    // Keyed by community now: community 2 can have a due of a household and period community 1 has.
    conn.batch_execute(
        "INSERT INTO fee_dues (community_id, household, period, amount_fen, imported_ms) VALUES (2, '00000000-0000-4000-8000-000000000002', '2026-11', 999, 9)",
    )
    .expect("a second community's due of the same household and period");
    conn.revert_last_migration(SQLITE_MIGRATIONS)
        .expect("fee dues by community down");
    // Down: every due of a distinct household and period is kept, the lowest community's where two had one.
    assert_eq!(rows(&mut conn, DUES), before);
    assert_eq!(
        rows(
            &mut conn,
            "SELECT name AS a, NULL AS n FROM sqlite_master WHERE name = 'household_community'"
        ),
        []
    );
}
