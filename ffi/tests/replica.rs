//! The replica through its Rust API, on real files: offline writes and their views, typed refusals, idempotent
//! sync answers, bootstrap from a snapshot, revocation, reopening, and the HTTP round trip against a loopback
//! responder. Times are passed explicitly, so the 5-20-2-2 deadlines are checked exactly.

use linli_ffi::store::{Store, TicketStep};
use linli_ffi::{
    ActivityInput, Channel, Complexity, DeviceIdentity, HealthFlag, RedeemPurpose, Replica,
    ReplicaError, RequestType, Role, TicketInput, TicketStatus, Verdict, VisitInput,
};
use linli_sync_core::prelude::{
    AgencyCreate, AgencyId, AgencyKind, AgencyOp, CardOp, DriftPolicy, GridId, GridOp, Hlc,
    HlcClock, Household, HouseholdId, MemberRole, Op, OpBody, PROTOCOL_VERSION, Points, ReplicaId,
    Snapshot, SyncRequest, SyncResponse, UserId, Writer,
};
use linli_sync_core::state::{Rules, State};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;

const T0: u64 = 1_764_288_000_000;
const MIN: u64 = 60_000;

struct World {
    dir: PathBuf,
    grid: GridId,
    household: HouseholdId,
    worker: UserId,
    butler: UserId,
    admin: Writer,
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("linli-ffi-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl World {
    fn new(name: &str) -> World {
        World {
            dir: temp_dir(name),
            grid: GridId::random(),
            household: HouseholdId::random(),
            worker: UserId::random(),
            butler: UserId::random(),
            admin: Writer::new(
                ReplicaId::random(),
                UserId::random(),
                HlcClock::new(DriftPolicy::DEFAULT),
            ),
        }
    }

    /// The ops an admin wrote to set up one grid cell with one elderly household, a grid worker and a butler.
    fn setup_ops(&mut self) -> Vec<Op> {
        let g = self.grid;
        vec![
            self.admin.op(
                T0 - 10 * MIN,
                OpBody::Grid(
                    g,
                    GridOp::Create {
                        name: "第三网格".into(),
                        community: "幸福里社区".into(),
                    },
                ),
            ),
            self.admin.op(
                T0 - 10 * MIN,
                OpBody::Grid(
                    g,
                    GridOp::AddHousehold {
                        household: self.household,
                        details: Household {
                            building: "3".into(),
                            unit: "2".into(),
                            room: "501".into(),
                            elderly_alone: true,
                            contact_name: None,
                        },
                    },
                ),
            ),
            self.admin.op(
                T0 - 10 * MIN,
                OpBody::Grid(
                    g,
                    GridOp::AddMember {
                        user: self.worker,
                        role: MemberRole::Worker,
                    },
                ),
            ),
            self.admin.op(
                T0 - 10 * MIN,
                OpBody::Grid(
                    g,
                    GridOp::AddMember {
                        user: self.butler,
                        role: MemberRole::Butler,
                    },
                ),
            ),
            self.admin.op(
                T0 - 10 * MIN,
                OpBody::Grid(
                    g,
                    GridOp::AssignVisit {
                        household: self.household,
                        butler: self.butler,
                    },
                ),
            ),
        ]
    }

    fn identity(&self, user: UserId, role: Role, device: &str) -> DeviceIdentity {
        DeviceIdentity {
            device_id: device.into(),
            user_id: user.to_string(),
            role,
        }
    }

    fn open(&self, file: &str, identity: &DeviceIdentity) -> Store {
        Store::open(&self.dir.join(file), identity).expect("open")
    }
}

fn response(ops: Vec<Op>, acked: Vec<linli_sync_core::prelude::OpId>, cursor: u64) -> Vec<u8> {
    serde_json::to_vec(&SyncResponse {
        protocol: PROTOCOL_VERSION,
        acked,
        ops,
        cursor,
        has_more: false,
        server_time: Hlc::at(T0),
    })
    .expect("json")
}

fn visit(w: &World, health: Option<HealthFlag>) -> VisitInput {
    VisitInput {
        grid_id: w.grid.to_string(),
        household_id: w.household.to_string(),
        seen: true,
        health,
        needs: vec![],
        notes: String::new(),
    }
}

fn ticket_input(w: &World, complexity: Complexity) -> TicketInput {
    TicketInput {
        grid_id: w.grid.to_string(),
        request_type: RequestType::Complaint,
        category: "water_leak".into(),
        complexity,
        building: "3".into(),
        unit: Some("2".into()),
        household_id: None,
        description: "Water through the ceiling".into(),
        channel: Channel::GroupChat,
        reporter_name: None,
        reporter_phone: None,
    }
}

fn rejected_code(e: linli_ffi::error::Error) -> String {
    match ReplicaError::from(e) {
        ReplicaError::Rejected { code, .. } => code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_butler_records_visits_offline_and_the_worker_gets_the_follow_up() {
    let mut w = World::new("visits");
    let device = ReplicaId::random().to_string();
    let mut butler = w.open("butler.db", &w.identity(w.butler, Role::Volunteer, &device));
    let setup = w.setup_ops();
    let outcome = butler
        .apply_sync_response(T0, &response(setup.clone(), vec![], 5))
        .expect("apply");
    assert_eq!((outcome.received, outcome.cursor), (5, 5));

    let due = butler.households_to_visit(T0 - 60 * MIN).expect("view");
    assert_eq!(due.len(), 1);
    assert!(!due[0].visited_today);

    let plain = butler.record_visit(T0, &visit(&w, None)).expect("visit");
    assert_eq!(plain.follow_up_ticket_id, None);
    let flagged = butler
        .record_visit(T0 + MIN, &visit(&w, Some(HealthFlag::Unwell)))
        .expect("flagged visit");
    assert!(flagged.follow_up_ticket_id.is_some());
    let due = butler.households_to_visit(T0 - 60 * MIN).expect("view");
    assert!(due[0].visited_today);
    assert_eq!(due[0].last_visit_ms, Some(T0 + MIN));
    // The volunteer raised the follow-up ticket, so it is in their view too.
    assert_eq!(butler.open_tickets(T0 + MIN).expect("tickets").len(), 1);

    // A volunteer may not take tickets: refused at once, with the rule's code, and nothing stored.
    let ticket = flagged.follow_up_ticket_id.clone().expect("ticket");
    let before = butler.sync_status().expect("status").unsynced_ops;
    let err = butler
        .ticket_step(T0 + MIN, &ticket, TicketStep::Take(None))
        .expect_err("refused");
    assert_eq!(rejected_code(err), "role_forbidden");
    assert_eq!(butler.sync_status().expect("status").unsynced_ops, before);

    // The push carries the three ops (visit, visit, follow-up ticket), oldest first.
    let request: SyncRequest =
        serde_json::from_slice(&butler.prepare_sync().expect("prepare")).expect("request");
    assert_eq!(request.ops.len(), 3);
    assert_eq!(request.cursor, 5);

    // The server acks them and relays them to the grid worker's device.
    let ids: Vec<_> = request.ops.iter().map(|o| o.id).collect();
    butler
        .apply_sync_response(T0 + 2 * MIN, &response(request.ops.clone(), ids, 8))
        .expect("ack");
    assert_eq!(butler.sync_status().expect("status").unsynced_ops, 0);

    let worker_device = ReplicaId::random().to_string();
    let mut worker = w.open(
        "worker.db",
        &w.identity(w.worker, Role::GridWorker, &worker_device),
    );
    let mut all = setup;
    all.extend(request.ops);
    worker
        .apply_sync_response(T0 + 2 * MIN, &response(all, vec![], 8))
        .expect("pull");
    let open = worker.open_tickets(T0 + 2 * MIN).expect("tickets");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].category, "health_unwell");
    assert_eq!(open[0].status, TicketStatus::Open);
    let cells = worker.grid_cells().expect("cells");
    assert_eq!(cells.len(), 1);
    assert!(cells[0].as_worker && !cells[0].as_butler);
}

#[test]
fn a_grid_worker_dispatches_a_ticket_to_a_linked_body_it_knows() {
    let mut w = World::new("dispatch");
    let mut worker = w.open(
        "worker.db",
        &w.identity(w.worker, Role::GridWorker, &ReplicaId::random().to_string()),
    );
    let agency = AgencyId::random();
    let mut setup = w.setup_ops();
    setup.push(w.admin.op(
        T0 - 10 * MIN,
        OpBody::Agency(
            agency,
            AgencyOp::Create(AgencyCreate {
                name: "综合行政执法局".into(),
                kind: AgencyKind::LawEnforcement,
                contact_role: "执法队值班".into(),
                categories: vec!["street_vending".into()],
            }),
        ),
    ));
    worker
        .apply_sync_response(T0, &response(setup, vec![], 6))
        .expect("apply");
    let ticket = worker
        .create_ticket(T0, &ticket_input(&w, Complexity::Complex))
        .expect("create");
    let before = worker.sync_status().expect("status").unsynced_ops;
    let err = worker
        .ticket_step(
            T0 + MIN,
            &ticket,
            TicketStep::Dispatch(AgencyId::random().to_string(), None),
        )
        .expect_err("an unknown body");
    assert_eq!(rejected_code(err), "unknown_entity");
    assert_eq!(worker.sync_status().expect("status").unsynced_ops, before);
    worker
        .ticket_step(
            T0 + MIN,
            &ticket,
            TicketStep::Dispatch(agency.to_string(), Some("转执法队".into())),
        )
        .expect("dispatch");
    let open = worker.open_tickets(T0 + MIN).expect("tickets");
    assert_eq!(open.len(), 1, "a dispatched ticket is still open");
    assert_eq!(open[0].status, TicketStatus::Dispatched);
}

#[test]
fn ticket_steps_follow_the_5_20_2_2_clock() {
    let mut w = World::new("tickets");
    let mut worker = w.open(
        "worker.db",
        &w.identity(w.worker, Role::GridWorker, &ReplicaId::random().to_string()),
    );
    let setup = w.setup_ops();
    worker
        .apply_sync_response(T0, &response(setup, vec![], 5))
        .expect("apply");

    let small = worker
        .create_ticket(T0, &ticket_input(&w, Complexity::Small))
        .expect("create");
    worker
        .ticket_step(T0 + MIN, &small, TicketStep::Take(None))
        .expect("take");
    let t = &worker.open_tickets(T0 + 2 * MIN).expect("view")[0];
    assert_eq!(t.status, TicketStatus::Taken);
    assert_eq!(t.on_site.verdict, Verdict::Pending);
    assert_eq!(t.on_site.deadline_ms, Some(T0 + MIN + 5 * MIN));
    // Judged later, the same stored step is overdue.
    let t = &worker.open_tickets(T0 + 7 * MIN).expect("view")[0];
    assert_eq!(t.on_site.verdict, Verdict::Overdue);

    worker
        .ticket_step(T0 + 4 * MIN, &small, TicketStep::Arrive(None))
        .expect("arrive");
    worker
        .ticket_step(
            T0 + 30 * MIN,
            &small,
            TicketStep::Solve(Some("fixed".into())),
        )
        .expect("solve");
    let t = &worker.open_tickets(T0 + 30 * MIN).expect("view")[0];
    assert_eq!(t.status, TicketStatus::Solved);
    assert_eq!(t.on_site.verdict, Verdict::Met);
    assert_eq!(t.on_site.elapsed_ms, Some(3 * MIN));
    assert_eq!(t.solved.verdict, Verdict::Missed);
    assert_eq!(t.solved.elapsed_ms, Some(26 * MIN));

    worker
        .ticket_step(
            T0 + 31 * MIN,
            &small,
            TicketStep::Answer("told them".into()),
        )
        .expect("answer");
    assert!(worker.open_tickets(T0 + 31 * MIN).expect("view").is_empty());
    worker
        .ticket_step(T0 + 32 * MIN, &small, TicketStep::Rate(2, None))
        .expect("rate");
    let err = worker
        .ticket_step(T0 + 32 * MIN, &small, TicketStep::Rate(9, None))
        .expect_err("out of range");
    assert_eq!(rejected_code(err), "invalid_field");
    worker
        .ticket_step(T0 + 33 * MIN, &small, TicketStep::Reopen(None))
        .expect("reopen");
    assert_eq!(
        worker.open_tickets(T0 + 33 * MIN).expect("view")[0].status,
        TicketStatus::Reopened
    );

    let complex = worker
        .create_ticket(T0, &ticket_input(&w, Complexity::Complex))
        .expect("create");
    // Arriving before taking does not follow from an open ticket.
    let err = worker
        .ticket_step(T0, &complex, TicketStep::Arrive(None))
        .expect_err("not taken");
    assert_eq!(rejected_code(err), "invalid_transition");
    worker
        .ticket_step(T0, &complex, TicketStep::Take(None))
        .expect("take");
    worker
        .ticket_step(
            T0 + 60 * MIN,
            &complex,
            TicketStep::Plan("council on Friday".into()),
        )
        .expect("plan");
    let t = worker
        .open_tickets(T0 + 60 * MIN)
        .expect("view")
        .into_iter()
        .find(|t| t.ticket_id == complex)
        .expect("listed");
    assert_eq!(t.plan.verdict, Verdict::Met);
    assert_eq!(t.answer.verdict, Verdict::Pending);
    assert_eq!(
        t.answer.deadline_ms,
        Some(T0 + 60 * MIN + 2 * 24 * 60 * MIN)
    );
}

#[test]
fn approvals_credit_the_card_and_redemptions_stay_within_rights() {
    let mut w = World::new("cards");
    let mut setup = w.setup_ops();
    let butler_device = ReplicaId::random().to_string();
    let mut butler = w.open(
        "butler.db",
        &w.identity(w.butler, Role::Volunteer, &butler_device),
    );
    butler
        .apply_sync_response(T0, &response(setup.clone(), vec![], 5))
        .expect("apply");
    let entry = butler
        .log_activity(
            T0,
            &ActivityInput {
                grid_id: w.grid.to_string(),
                activity: "patrol".into(),
                start_ms: T0 - 90 * MIN,
                end_ms: T0,
                notes: String::new(),
            },
        )
        .expect("activity");
    assert_eq!(butler.summary().expect("summary").pending_minutes, 90);
    let pushed: SyncRequest =
        serde_json::from_slice(&butler.prepare_sync().expect("prepare")).expect("request");

    let worker_device = ReplicaId::random().to_string();
    let mut worker = w.open(
        "worker.db",
        &w.identity(w.worker, Role::GridWorker, &worker_device),
    );
    setup.extend(pushed.ops.clone());
    worker
        .apply_sync_response(T0, &response(setup.clone(), vec![], 6))
        .expect("pull");
    assert_eq!(worker.pending_entries().expect("pending").len(), 1);
    worker
        .approve_entry(T0 + MIN, &entry, None)
        .expect("approve");
    assert!(worker.pending_entries().expect("pending").is_empty());
    let err = worker
        .approve_entry(T0 + MIN, &entry, None)
        .expect_err("twice");
    assert_eq!(rejected_code(err), "invalid_transition");
    // A grid worker may not redeem.
    let err = worker
        .redeem(
            T0 + MIN,
            &w.butler.to_string(),
            5,
            &RedeemPurpose::Goods {
                item: "rice".into(),
            },
        )
        .expect_err("forbidden");
    assert_eq!(rejected_code(err), "role_forbidden");
    let approvals: SyncRequest =
        serde_json::from_slice(&worker.prepare_sync().expect("prepare")).expect("request");
    assert_eq!(approvals.ops.len(), 2, "approve and credit in one write");

    // The butler sees 90 approved minutes and 15 points (10 an hour).
    butler
        .apply_sync_response(T0 + 2 * MIN, &response(approvals.ops.clone(), vec![], 8))
        .expect("pull");
    let me = butler.summary().expect("summary");
    assert_eq!(
        (me.approved_minutes, me.pending_minutes, me.card_balance),
        (90, 0, 15)
    );

    // The property office's device holds no rights yet: a redemption is refused offline.
    let office_device = ReplicaId::random();
    let office_user = UserId::random();
    let mut office = w.open(
        "office.db",
        &w.identity(office_user, Role::Admin, &office_device.to_string()),
    );
    setup.extend(approvals.ops);
    office
        .apply_sync_response(T0 + 2 * MIN, &response(setup.clone(), vec![], 8))
        .expect("pull");
    let purpose = RedeemPurpose::FeeOffset {
        household_id: w.household.to_string(),
        period: "2026-11".into(),
    };
    let err = office
        .redeem(T0 + 3 * MIN, &w.butler.to_string(), 10, &purpose)
        .expect_err("no rights");
    assert_eq!(rejected_code(err), "insufficient_rights");

    // The server grants 12 points of rights to the office device; 10 can be redeemed, 3 more cannot.
    let mut server = Writer::new(
        ReplicaId::SERVER,
        UserId::random(),
        HlcClock::new(DriftPolicy::DEFAULT),
    );
    let grant = server.op(
        T0 + 3 * MIN,
        OpBody::Card(
            w.butler,
            CardOp::Transfer {
                to: office_device,
                points: Points(12),
                seq: 1,
            },
        ),
    );
    office
        .apply_sync_response(T0 + 3 * MIN, &response(vec![grant], vec![], 9))
        .expect("grant");
    assert_eq!(
        office
            .card(&w.butler.to_string())
            .expect("card")
            .rights_here,
        12
    );
    let card = office
        .redeem(T0 + 4 * MIN, &w.butler.to_string(), 10, &purpose)
        .expect("redeem");
    assert_eq!((card.balance, card.rights_here), (5, 2));
    let err = office
        .redeem(T0 + 4 * MIN, &w.butler.to_string(), 3, &purpose)
        .expect_err("over rights");
    assert_eq!(rejected_code(err), "insufficient_rights");
}

#[test]
fn a_sync_answer_applied_twice_changes_nothing_and_reopening_keeps_everything() {
    let mut w = World::new("idempotent");
    let identity = w.identity(w.butler, Role::Volunteer, &ReplicaId::random().to_string());
    let mut butler = w.open("butler.db", &identity);
    let answer = response(w.setup_ops(), vec![], 5);
    butler.apply_sync_response(T0, &answer).expect("first");
    butler.record_visit(T0, &visit(&w, None)).expect("visit");
    let views = |s: &Store| {
        (
            s.households_to_visit(T0).expect("view"),
            s.grid_cells().expect("cells"),
            s.summary().expect("summary"),
            s.prepare_sync().expect("prepare"),
        )
    };
    let before = views(&butler);
    let again = butler.apply_sync_response(T0, &answer).expect("second");
    assert_eq!((again.received, again.acked), (0, 0));
    assert_eq!(views(&butler), before);
    let state = butler.state().clone();

    drop(butler);
    let reopened = w.open("butler.db", &identity);
    assert_eq!(views(&reopened), before);
    assert_eq!(reopened.state(), &state);

    // Another device's identity cannot open this file.
    let other = w.identity(w.worker, Role::GridWorker, &ReplicaId::random().to_string());
    assert!(Store::open(&w.dir.join("butler.db"), &other).is_err());
}

#[test]
fn bootstrap_from_a_snapshot_keeps_unsynced_work_and_revocation_wipes_everything() {
    let mut w = World::new("bootstrap");
    let mut state = State::new(Rules::DEFAULT);
    for op in w.setup_ops() {
        state.apply(&op);
    }
    let snapshot = serde_json::to_vec(&Snapshot {
        protocol: PROTOCOL_VERSION,
        cursor: 40,
        state,
        server_time: Hlc::at(T0),
    })
    .expect("json");
    let identity = w.identity(w.butler, Role::Volunteer, &ReplicaId::random().to_string());
    let mut phone = w.open("phone.db", &identity);
    phone.bootstrap(T0, &snapshot).expect("bootstrap");
    assert_eq!(phone.households_to_visit(0).expect("view").len(), 1);
    assert_eq!(phone.sync_status().expect("status").cursor, 40);
    phone.record_visit(T0, &visit(&w, None)).expect("visit");
    // A second bootstrap (a retried download) keeps the unsynced visit.
    phone.bootstrap(T0, &snapshot).expect("again");
    assert_eq!(phone.sync_status().expect("status").unsynced_ops, 1);
    assert!(phone.households_to_visit(T0).expect("view")[0].visited_today);
    drop(phone);
    let mut phone = w.open("phone.db", &identity);
    assert_eq!(phone.households_to_visit(0).expect("view").len(), 1);

    let revoked = br#"{"type":"https://linli.invalid/problems/device_revoked","title":"Device revoked","status":401,"code":"device_revoked"}"#;
    let err = phone.apply_sync_response(T0, revoked).expect_err("revoked");
    assert!(matches!(
        ReplicaError::from(err),
        ReplicaError::Revoked { .. }
    ));
    assert!(phone.households_to_visit(0).expect("view").is_empty());
    let conn = phone.conn();
    let ops: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM local_ops) + (SELECT count(*) FROM remote_ops) + (SELECT count(*) FROM base_state)",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(ops, 0);
    assert!(matches!(
        ReplicaError::from(
            phone
                .record_visit(T0, &visit(&w, None))
                .expect_err("revoked")
        ),
        ReplicaError::Revoked { .. }
    ));
    drop(phone);
    // Still revoked after reopening.
    let phone = w.open("phone.db", &identity);
    assert!(phone.prepare_sync().is_err());
}

/// Serves `answers` in order on a loopback port, one HTTP/1.1 request each, and returns what it received.
fn loopback(answers: Vec<(u16, String)>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let n = answers.len();
    loopback_with(n, move |i, _| answers[i].clone())
}

/// Serves `n` requests on a loopback port, answering request `i` (whose body is given) with `answer(i, body)`;
/// returns the requests received.
fn loopback_with(
    n: usize,
    answer: impl Fn(usize, &str) -> (u16, String) + Send + 'static,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for i in 0..n {
            let (mut sock, _) = listener.accept().expect("accept");
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            // Read the head, then as many body bytes as Content-Length says.
            let body_start = loop {
                let got = sock.read(&mut chunk).expect("read");
                buf.extend_from_slice(&chunk[..got]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= head_end + 4 + len || got == 0 {
                        break head_end + 4;
                    }
                }
                if got == 0 {
                    break buf.len();
                }
            };
            let request = String::from_utf8_lossy(&buf).to_string();
            let (status, body) = answer(i, &String::from_utf8_lossy(&buf[body_start..]));
            seen.push(request);
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(reply.as_bytes()).expect("write");
        }
        seen
    });
    (url, handle)
}

#[test]
fn http_sync_pushes_pulls_and_obeys_revocation() {
    let mut w = World::new("http");
    let path = w.dir.join("phone.db");
    let identity = w.identity(w.butler, Role::Volunteer, &ReplicaId::random().to_string());
    let replica = Replica::open_at(&path, &identity).expect("open");
    let setup = String::from_utf8(response(w.setup_ops(), vec![], 5)).expect("utf8");
    // A Linli server without snapshots answers 404 with its `not_found` problem document.
    let not_found = r#"{"code":"not_found","status":404}"#.to_string();
    let (url, server) = loopback(vec![(404, not_found), (200, setup)]);
    let outcome = replica.sync(url, "token-1".into()).expect("sync");
    assert_eq!((outcome.received, outcome.cursor), (5, 5));
    let seen = server.join().expect("server");
    assert!(seen[0].starts_with("GET /v1/snapshot"));
    assert!(seen[1].starts_with("POST /v1/sync"));
    assert!(seen[1].contains("Bearer token-1"));

    // A 503 is "offline": nothing changes, the visit stays queued.
    replica.record_visit(visit(&w, None)).expect("visit");
    let (url, server) = loopback(vec![(503, "{}".into())]);
    assert!(matches!(
        replica.sync(url, "t".into()),
        Err(ReplicaError::Offline { .. })
    ));
    server.join().expect("server");
    assert_eq!(replica.sync_status().expect("status").unsynced_ops, 1);

    // No server at all: offline too.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    assert!(matches!(
        replica.sync(dead, "t".into()),
        Err(ReplicaError::Offline { .. })
    ));

    let revoked = r#"{"code":"device_revoked","status":401,"title":"Device revoked"}"#.to_string();
    let (url, server) = loopback(vec![(401, revoked)]);
    assert!(matches!(
        replica.sync(url, "t".into()),
        Err(ReplicaError::Revoked { .. })
    ));
    server.join().expect("server");
    assert!(replica.households_to_visit(0).expect("view").is_empty());
}

#[test]
fn an_op_the_server_refuses_for_good_is_set_aside_and_the_queue_goes_on() {
    let mut w = World::new("set-aside");
    let identity = w.identity(w.butler, Role::Volunteer, &ReplicaId::random().to_string());
    let mut phone = w.open("phone.db", &identity);
    phone
        .apply_sync_response(T0, &response(w.setup_ops(), vec![], 5))
        .expect("setup");
    phone
        .record_visit(T0, &visit(&w, None))
        .expect("first visit");
    phone
        .record_visit(T0 + MIN, &visit(&w, None))
        .expect("second visit");
    let pushed: SyncRequest =
        serde_json::from_slice(&phone.prepare_sync().expect("prepare")).expect("request");
    let second = pushed.ops[1].id;

    // A refusal that may pass later (the phone's clock was ahead of the server's) holds that op, and what was
    // written after it, back for one round trip: the ops before it and the pull still go through (issue 17).
    let skew = format!(r#"{{"code":"clock_skew","status":400,"op_index":1,"op_id":"{second}"}}"#);
    let outcome = phone
        .apply_sync_response(T0, skew.as_bytes())
        .expect("a held op does not fail the sync");
    assert!(outcome.has_more, "sync again");
    assert!(phone.rejected_ops().expect("rejected").is_empty());
    let held: SyncRequest =
        serde_json::from_slice(&phone.prepare_sync().expect("prepare")).expect("request");
    assert_eq!(held.ops, vec![pushed.ops[0].clone()]);
    assert_eq!(phone.sync_status().expect("status").unsynced_ops, 2);

    // A refusal for good sets that op aside: no longer pushed, no longer in the views, listed with its code.
    let scope =
        format!(r#"{{"code":"out_of_scope","status":403,"op_index":1,"op_id":"{second}"}}"#);
    let err = phone
        .apply_sync_response(T0, scope.as_bytes())
        .expect_err("refused");
    assert_eq!(rejected_code(err), "out_of_scope");
    let rejected = phone.rejected_ops().expect("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0].op_id.clone(), rejected[0].kind.as_str()),
        (second.to_string(), "entry.visit")
    );
    let next: SyncRequest =
        serde_json::from_slice(&phone.prepare_sync().expect("prepare")).expect("request");
    assert_eq!(next.ops, vec![pushed.ops[0].clone()]);
    assert_eq!(
        phone.households_to_visit(0).expect("view")[0].last_visit_ms,
        Some(T0)
    );
    drop(phone);
    let phone = w.open("phone.db", &identity);
    assert_eq!(
        phone.households_to_visit(0).expect("view")[0].last_visit_ms,
        Some(T0)
    );
    assert_eq!(phone.sync_status().expect("status").unsynced_ops, 1);
}

#[test]
fn a_long_backlog_is_pushed_in_pages_and_a_refused_op_does_not_block_it() {
    let mut w = World::new("backlog");
    let path = w.dir.join("phone.db");
    let identity = w.identity(w.butler, Role::Volunteer, &ReplicaId::random().to_string());
    {
        let mut store = Store::open(&path, &identity).expect("open");
        store
            .apply_sync_response(T0, &response(w.setup_ops(), vec![], 5))
            .expect("setup");
        for i in 0..1002u64 {
            store.record_visit(T0 + i, &visit(&w, None)).expect("visit");
        }
    }
    let replica = Replica::open_at(&path, &identity).expect("open");
    // The server refuses the first op of the first batch for good, then acknowledges everything it is sent.
    let (url, server) = loopback_with(3, |i, body| {
        let request: SyncRequest = serde_json::from_str(body).expect("a sync request");
        let ids: Vec<_> = request.ops.iter().map(|o| o.id).collect();
        if i == 0 {
            let problem = format!(
                r#"{{"code":"out_of_scope","status":403,"op_index":0,"op_id":"{}"}}"#,
                ids[0]
            );
            (403, problem)
        } else {
            (
                200,
                String::from_utf8(response(vec![], ids, 5)).expect("utf8"),
            )
        }
    });
    let outcome = replica.sync(url, "t".into()).expect("sync");
    assert_eq!(
        (outcome.acked, outcome.set_aside, outcome.has_more),
        (1001, 1, false)
    );
    let seen = server.join().expect("server");
    let sizes: Vec<usize> = seen
        .iter()
        .map(|r| {
            let body = &r[r.find("\r\n\r\n").expect("head") + 4..];
            serde_json::from_str::<SyncRequest>(body)
                .expect("request")
                .ops
                .len()
        })
        .collect();
    assert_eq!(sizes, vec![1000, 1000, 1]);
    assert_eq!(replica.sync_status().expect("status").unsynced_ops, 0);
    assert_eq!(replica.rejected_ops().expect("rejected").len(), 1);
}

#[test]
fn compaction_folds_what_the_server_holds_and_changes_nothing_visible() {
    let mut w = World::new("compact");
    let identity = w.identity(w.butler, Role::Volunteer, &ReplicaId::random().to_string());
    let mut phone = w.open("phone.db", &identity);
    let setup = w.setup_ops();
    phone
        .apply_sync_response(T0, &response(setup.clone(), vec![], 5))
        .expect("setup");
    phone
        .record_visit(T0, &visit(&w, None))
        .expect("acked visit");
    let acked: SyncRequest =
        serde_json::from_slice(&phone.prepare_sync().expect("prepare")).expect("request");
    phone
        .apply_sync_response(
            T0,
            &response(vec![], acked.ops.iter().map(|o| o.id).collect(), 6),
        )
        .expect("ack");
    phone
        .record_visit(T0 + MIN, &visit(&w, Some(HealthFlag::Fall)))
        .expect("waiting visit");
    let before = (
        phone.households_to_visit(0).expect("view"),
        phone.open_tickets(T0).expect("tickets"),
        phone.grid_cells().expect("cells"),
        phone.prepare_sync().expect("prepare"),
        phone.state().clone(),
    );

    assert_eq!(
        phone.compact().expect("compact"),
        6,
        "5 received ops and 1 acknowledged one"
    );
    assert_eq!(phone.compact().expect("again"), 0);
    let counts = |s: &Store| -> (i64, i64) {
        s.conn()
            .query_row(
                "SELECT (SELECT count(*) FROM remote_ops), (SELECT count(*) FROM local_ops)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("counts")
    };
    assert_eq!(
        counts(&phone),
        (0, 2),
        "only the two waiting ops stay in the log"
    );
    let after = |s: &Store| {
        (
            s.households_to_visit(0).expect("view"),
            s.open_tickets(T0).expect("tickets"),
            s.grid_cells().expect("cells"),
            s.prepare_sync().expect("prepare"),
            s.state().clone(),
        )
    };
    assert_eq!(after(&phone), before);
    // An op delivered again after it was folded changes nothing.
    let again = phone
        .apply_sync_response(T0, &response(setup, vec![], 6))
        .expect("redelivered");
    assert_eq!(again.received, 5);
    assert_eq!(after(&phone), before);
    drop(phone);
    let phone = w.open("phone.db", &identity);
    assert_eq!(after(&phone), before);
}

/// The notes of the visit `entry` in `store`'s state.
fn visit_notes(store: &Store, op: &Op) -> Option<String> {
    let OpBody::Entry(entry, _) = &op.body else {
        return None;
    };
    match store.state().entries().get(entry)?.record.as_ref()? {
        (_, linli_sync_core::entry::Record::Visit(v)) => Some(v.notes.clone()),
        _ => None,
    }
}

/// The server's copy of `op`: the same id with other content (as when the server stored a version whose
/// acknowledgement was lost, and the phone then changed it, e.g. re-stamped it).
fn other_copy(op: &Op) -> Op {
    let mut copy = op.clone();
    if let OpBody::Entry(_, linli_sync_core::entry::EntryOp::Visit(v)) = &mut copy.body {
        v.notes = "the server's copy".into();
    }
    copy
}

/// Found by the review behind issue 17: after an `op_id_conflict` the phone counted its set-aside row as holding
/// the op, so the server's copy of that id was never applied there and the phone and the server diverged for good.
#[test]
fn after_an_op_id_conflict_the_servers_copy_is_applied() {
    let mut w = World::new("op-id-conflict");
    let identity = w.identity(w.butler, Role::Volunteer, &ReplicaId::random().to_string());
    let mut phone = w.open("phone.db", &identity);
    phone
        .apply_sync_response(T0, &response(w.setup_ops(), vec![], 5))
        .expect("setup");
    phone.record_visit(T0, &visit(&w, None)).expect("visit");
    let pushed: SyncRequest =
        serde_json::from_slice(&phone.prepare_sync().expect("prepare")).expect("request");
    let mine = pushed.ops[0].clone();
    let conflict = format!(
        r#"{{"code":"op_id_conflict","status":409,"op_index":0,"op_id":"{}"}}"#,
        mine.id
    );
    let err = phone
        .apply_sync_response(T0, conflict.as_bytes())
        .expect_err("set aside");
    assert_eq!(rejected_code(err), "op_id_conflict");
    assert_eq!(
        visit_notes(&phone, &mine),
        None,
        "set aside: not in the state"
    );
    let theirs = other_copy(&mine);
    let outcome = phone
        .apply_sync_response(T0, &response(vec![theirs.clone()], vec![], 6))
        .expect("pull");
    assert_eq!(outcome.received, 1);
    assert_eq!(
        visit_notes(&phone, &mine).as_deref(),
        Some("the server's copy")
    );
    // Reopened, the file says the same.
    drop(phone);
    let phone = w.open("phone.db", &identity);
    assert_eq!(
        visit_notes(&phone, &mine).as_deref(),
        Some("the server's copy")
    );
    assert_eq!(phone.rejected_ops().expect("rejected").len(), 1);
}

/// The server's copy may arrive before the push that would be refused: the waiting version is set aside then.
#[test]
fn a_servers_copy_of_a_waiting_op_id_replaces_the_local_version() {
    let mut w = World::new("op-id-replaced");
    let identity = w.identity(w.butler, Role::Volunteer, &ReplicaId::random().to_string());
    let mut phone = w.open("phone.db", &identity);
    phone
        .apply_sync_response(T0, &response(w.setup_ops(), vec![], 5))
        .expect("setup");
    phone.record_visit(T0, &visit(&w, None)).expect("visit");
    let pushed: SyncRequest =
        serde_json::from_slice(&phone.prepare_sync().expect("prepare")).expect("request");
    let mine = pushed.ops[0].clone();
    // The same content again changes nothing (a repeated answer).
    phone
        .apply_sync_response(T0, &response(vec![mine.clone()], vec![], 6))
        .expect("pull");
    assert_eq!(phone.sync_status().expect("status").unsynced_ops, 1);
    phone
        .apply_sync_response(T0, &response(vec![other_copy(&mine)], vec![], 7))
        .expect("pull");
    assert_eq!(
        visit_notes(&phone, &mine).as_deref(),
        Some("the server's copy")
    );
    assert_eq!(phone.sync_status().expect("status").unsynced_ops, 0);
    let rejected = phone.rejected_ops().expect("rejected");
    assert_eq!(
        (rejected.len(), rejected[0].code.as_str()),
        (1, "op_id_conflict")
    );
}
