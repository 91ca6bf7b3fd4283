//! The linked bodies' and councils' reports, and the linked bodies' group of the red/black list, against a
//! hand-built community whose figures were worked out by hand (the arithmetic is in the comments next to each
//! assertion), not by the code under test. The state is built from real ops, validated as the server does.

use linli_reports::agencies::{AgencyRow, agencies};
use linli_reports::councils::councils;
use linli_reports::ranking::ranking;
use linli_reports::stats::Rate;
use linli_reports::{Basis, Filter, ReportPolicy};
use linli_sync_core::prelude::*;

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;
/// 2026-11-27 00:00 in UTC+8.
const D: u64 = 1_795_708_800_000;
/// 09:00 local on day D: every ticket is created then.
const T0: u64 = D + 9 * HOUR;
/// The dispatch time of most tickets.
const T1: u64 = T0 + HOUR;
/// The reports are judged ten days on.
const AS_OF: u64 = T0 + 10 * DAY;

/// A community under construction: ops are validated and applied as they are made, each by its own writer so
/// that its stamp's wall time is exactly the time given.
struct Community {
    state: State,
    admin: UserId,
    worker: UserId,
    grid: GridId,
}

impl Community {
    fn new() -> Self {
        let (admin, worker, grid) = (UserId::random(), UserId::random(), GridId::random());
        let mut c = Community {
            state: State::new(Rules::DEFAULT),
            admin,
            worker,
            grid,
        };
        c.by(
            admin,
            D,
            OpBody::Grid(
                grid,
                GridOp::Create {
                    name: "第一网格".into(),
                    community: "幸福里".into(),
                },
            ),
        );
        c.by(
            admin,
            D,
            OpBody::Grid(
                grid,
                GridOp::AddMember {
                    user: worker,
                    role: MemberRole::Worker,
                },
            ),
        );
        c
    }

    fn op(&self, user: UserId, at: u64, body: OpBody) -> Op {
        Writer::new(
            ReplicaId::random(),
            user,
            HlcClock::new(DriftPolicy::DEFAULT),
        )
        .op(at, body)
    }

    fn push(&mut self, op: &Op) {
        self.state
            .validate_op(op)
            .unwrap_or_else(|e| panic!("{}: {e}", op.kind()));
        self.state.apply(op);
    }

    fn by(&mut self, user: UserId, at: u64, body: OpBody) {
        let op = self.op(user, at, body);
        self.push(&op);
    }

    fn agency(&mut self, name: &str, kind: AgencyKind) -> AgencyId {
        let id = AgencyId::random();
        self.by(
            self.admin,
            D,
            OpBody::Agency(
                id,
                AgencyOp::Create(AgencyCreate {
                    name: name.into(),
                    kind,
                    contact_role: "值班室".into(),
                    categories: vec!["hazard".into()],
                }),
            ),
        );
        id
    }

    /// A complex ticket created at T0.
    fn ticket(&mut self) -> TicketId {
        let id = TicketId::random();
        let grid = self.grid;
        self.by(
            self.worker,
            T0,
            OpBody::Ticket(
                id,
                TicketOp::Create(TicketCreate {
                    grid,
                    request_type: RequestType::Complaint,
                    category: "hazard".into(),
                    complexity: Complexity::Complex,
                    location: Location {
                        building: "3".into(),
                        ..Location::default()
                    },
                    description: "问题".into(),
                    channel: Channel::Desk,
                    reporter: Reporter::default(),
                    from_visit: None,
                }),
            ),
        );
        id
    }

    fn step(&self, t: TicketId, at: u64, op: TicketOp) -> Op {
        self.op(self.admin, at, OpBody::Ticket(t, op))
    }

    fn dispatch(&mut self, t: TicketId, a: AgencyId, at: u64) {
        let op = self.step(t, at, TicketOp::Dispatch(step(a)));
        self.push(&op);
    }

    fn accept(&mut self, t: TicketId, a: AgencyId, at: u64) {
        let op = self.step(t, at, TicketOp::AgencyAccept(step(a)));
        self.push(&op);
    }

    fn complete(&mut self, t: TicketId, a: AgencyId, at: u64) {
        let op = self.step(t, at, TicketOp::AgencyComplete(step(a)));
        self.push(&op);
    }

    fn decision(&mut self, council: Council, name: &str, date: &str) -> DecisionId {
        let id = DecisionId::random();
        self.by(
            self.admin,
            D,
            OpBody::Decision(
                id,
                DecisionOp::Record(DecisionRecord {
                    date: date.into(),
                    council,
                    council_name: name.into(),
                    text: "加装护栏，费用由维修资金列支".into(),
                }),
            ),
        );
        id
    }

    fn decide(&mut self, t: TicketId, decision: DecisionId, at: u64) {
        let op = self.step(t, at, TicketOp::Decide { decision });
        self.push(&op);
    }
}

fn step(agency: AgencyId) -> AgencyStep {
    AgencyStep {
        agency,
        note: None,
        public: false,
    }
}

/// Days D to D+10 inclusive.
fn range() -> Filter {
    Filter::between(D, D + 11 * DAY)
}

fn basis() -> Basis {
    Basis::new(0, AS_OF)
}

fn row(rows: &[AgencyRow], id: AgencyId) -> &AgencyRow {
    rows.iter()
        .find(|r| r.agency == id)
        .unwrap_or_else(|| panic!("no row for {id}"))
}

struct Scenario {
    c: Community,
    a: AgencyId,
    b: AgencyId,
    cc: AgencyId,
    a1: TicketId,
    a2: TicketId,
    a3: TicketId,
    b1: TicketId,
    c3: TicketId,
}

/// Three linked bodies, SLAs of 1 day (acceptance) and 5 days (completion), judged at T0 + 10 days:
/// - A (执法局): a1 accepted 2 h after dispatch and completed after 1 day; a2 accepted after 4 h, completed after
///   6 days (late); a3 accepted after 30 h (late), never completed (overdue).
/// - B (派出所): b1, b2, b3 accepted after 1, 3, 5 h and completed after 2, 3, 4 days; b4 never accepted and
///   reassigned to C after 2 days (B's acceptance missed; its completion not judged).
/// - C (自来水公司): b4 accepted 1 h after its dispatch to C and completed a day later; c2 dispatched at T0 + 9.5
///   days, nothing yet (pending); c3 dispatched at T1 and never accepted (both clocks overdue).
fn scenario() -> Scenario {
    let mut c = Community::new();
    let a = c.agency("综合行政执法局", AgencyKind::LawEnforcement);
    let b = c.agency("城东派出所", AgencyKind::Police);
    let cc = c.agency("自来水公司", AgencyKind::Utility);
    // An agency never dispatched to: listed with zeros, not ranked.
    c.agency("供电所", AgencyKind::Utility);

    let [a1, a2, a3] = std::array::from_fn(|_| c.ticket());
    for (t, accept, complete) in [
        (a1, 2 * HOUR, Some(DAY)),
        (a2, 4 * HOUR, Some(6 * DAY)),
        (a3, 30 * HOUR, None),
    ] {
        c.dispatch(t, a, T1);
        c.accept(t, a, T1 + accept);
        if let Some(done) = complete {
            c.complete(t, a, T1 + done);
        }
    }
    let [b1, b2, b3, b4] = std::array::from_fn(|_| c.ticket());
    for (t, accept, done) in [
        (b1, HOUR, 2 * DAY),
        (b2, 3 * HOUR, 3 * DAY),
        (b3, 5 * HOUR, 4 * DAY),
    ] {
        c.dispatch(t, b, T1);
        c.accept(t, b, T1 + accept);
        c.complete(t, b, T1 + done);
    }
    c.dispatch(b4, b, T1);
    c.dispatch(b4, cc, T1 + 2 * DAY);
    c.accept(b4, cc, T1 + 2 * DAY + HOUR);
    c.complete(b4, cc, T1 + 3 * DAY);
    let [c2, c3] = std::array::from_fn(|_| c.ticket());
    c.dispatch(c2, cc, T0 + 9 * DAY + 12 * HOUR);
    c.dispatch(c3, cc, T1);
    Scenario {
        c,
        a,
        b,
        cc,
        a1,
        a2,
        a3,
        b1,
        c3,
    }
}

#[test]
fn per_agency_figures_match_hand_computed_values() {
    let s = scenario();
    let r = agencies(&s.c.state, &range(), &ReportPolicy::DEFAULT, basis());
    assert_eq!(r.accept_sla_ms, DAY);
    assert_eq!(r.complete_sla_ms, 5 * DAY);
    // Four known agencies, by name (Unicode order: 供 < 城 < 综 < 自).
    assert_eq!(
        r.agencies
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        vec!["供电所", "城东派出所", "综合行政执法局", "自来水公司"]
    );
    assert_eq!(r.agencies[0].dispatched, 0);
    assert_eq!(r.agencies[0].acceptance.on_time, Rate::of(0, 0));

    let a = row(&r.agencies, s.a);
    assert_eq!(
        (a.dispatched, a.accepted, a.completed, a.open, a.reassigned),
        (3, 3, 2, 1, 0)
    );
    // Acceptance 2 h, 4 h, 30 h: median rank ⌈0.5·3⌉ = 2 → 4 h; p90 rank ⌈0.9·3⌉ = 3 → 30 h; met 2 of 3.
    assert_eq!(a.acceptance.median_ms, Some(4 * HOUR));
    assert_eq!(a.acceptance.p90_ms, Some(30 * HOUR));
    assert_eq!(a.acceptance.on_time, Rate::of(2, 3));
    assert_eq!(a.acceptance.overdue, 0);
    // Completion 24 h, 144 h: median rank ⌈1⌉ = 1 → 24 h; p90 rank ⌈1.8⌉ = 2 → 144 h; met 1 (a1), missed 1
    // (a2), overdue 1 (a3: 10 days − 1 h since dispatch > 5 days) → 1 of 3.
    assert_eq!(a.completion.median_ms, Some(DAY));
    assert_eq!(a.completion.p90_ms, Some(6 * DAY));
    assert_eq!(a.completion.on_time, Rate::of(1, 3));
    assert_eq!(a.completion.overdue, 1);

    let b = row(&r.agencies, s.b);
    assert_eq!(
        (b.dispatched, b.accepted, b.completed, b.open, b.reassigned),
        (4, 3, 3, 0, 1)
    );
    // Acceptance 1, 3, 5 h → median 3 h, p90 5 h; met 3, b4 missed (reassigned after 2 days > 1 day) → 3 of 4.
    assert_eq!(b.acceptance.median_ms, Some(3 * HOUR));
    assert_eq!(b.acceptance.p90_ms, Some(5 * HOUR));
    assert_eq!(b.acceptance.on_time, Rate::of(3, 4));
    // Completion 48, 72, 96 h → median 72 h, p90 96 h; b4's completion clock ended at 2 days < 5: not judged.
    assert_eq!(b.completion.median_ms, Some(3 * DAY));
    assert_eq!(b.completion.p90_ms, Some(4 * DAY));
    assert_eq!(b.completion.on_time, Rate::of(3, 3));
    assert_eq!((b.acceptance.overdue, b.completion.overdue), (0, 0));

    let cc = row(&r.agencies, s.cc);
    assert_eq!(
        (
            cc.dispatched,
            cc.accepted,
            cc.completed,
            cc.open,
            cc.reassigned
        ),
        (3, 1, 1, 2, 0)
    );
    // b4: accepted after 1 h, completed after 1 day (measured from the dispatch to C, not to B). c2 pending (12 h
    // since dispatch), c3 overdue on both clocks → acceptance 1 of 2, completion 1 of 2.
    assert_eq!(cc.acceptance.median_ms, Some(HOUR));
    assert_eq!(cc.acceptance.p90_ms, Some(HOUR));
    assert_eq!(cc.completion.median_ms, Some(DAY));
    assert_eq!(cc.acceptance.on_time, Rate::of(1, 2));
    assert_eq!(cc.completion.on_time, Rate::of(1, 2));
    assert_eq!((cc.acceptance.overdue, cc.completion.overdue), (1, 1));

    // Overdue: c3's acceptance (deadline T1 + 1 day) first, then a3's and c3's completions (T1 + 5 days).
    let overdue: Vec<_> = r
        .overdue
        .iter()
        .map(|o| (o.ticket, o.agency, o.step.as_str(), o.deadline_ms))
        .collect();
    assert_eq!(overdue.len(), 3);
    assert_eq!(overdue[0], (s.c3, s.cc, "acceptance", T1 + DAY));
    let mut rest = overdue[1..].to_vec();
    rest.sort();
    let mut expected = vec![
        (s.a3, s.a, "completion", T1 + 5 * DAY),
        (s.c3, s.cc, "completion", T1 + 5 * DAY),
    ];
    expected.sort();
    assert_eq!(rest, expected);

    // The CSV names the bodies, with the id as the last column; B's row: 4 dispatched, acceptance 3 of 4 = 75.0 %,
    // median 3.0 h, p90 5.0 h; completion 3 of 3, median 72.0 h, p90 96.0 h.
    let csv = r.csv();
    let line = csv
        .lines()
        .find(|l| l.starts_with("城东派出所,"))
        .expect("B's row");
    assert_eq!(
        line.trim_end(),
        format!(
            "城东派出所,police,4,3,3,0,1,3,4,75.0,3.0,5.0,0,3,3,100.0,72.0,96.0,0,{}",
            s.b
        )
    );
}

#[test]
fn agencies_are_ranked_as_their_own_group() {
    let s = scenario();
    let r = ranking(&s.c.state, &range(), &ReportPolicy::DEFAULT, basis());
    // Nobody took a ticket: the handlers' lists are empty, the agencies' group is not.
    assert!(r.all.is_empty() && r.red.is_empty() && r.black.is_empty());
    // Weights 0.2 volume, 0.3 on-time acceptance, 0.5 on-time completion; largest volume 4 (B); 供电所 (no
    // dispatch) is under the minimum volume 3.
    // B: 0.2·4/4 + 0.3·3/4 + 0.5·3/3 = 0.2 + 0.225 + 0.5 = 0.925
    // C: 0.2·3/4 + 0.3·1/2 + 0.5·1/2 = 0.15 + 0.15 + 0.25 = 0.55
    // A: 0.2·3/4 + 0.3·2/3 + 0.5·1/3 = 0.15 + 0.2 + 0.1666… = 0.516666…
    let order: Vec<(AgencyId, usize)> = r.agencies.iter().map(|x| (x.agency, x.volume)).collect();
    assert_eq!(order, vec![(s.b, 4), (s.cc, 3), (s.a, 3)]);
    for (got, want) in r.agencies.iter().zip([0.925, 0.55, 0.516_666_667]) {
        assert!(
            (got.score - want).abs() < 1e-6,
            "{} {}",
            got.name,
            got.score
        );
    }
    // A minimum volume of 4 leaves B alone.
    let policy = ReportPolicy {
        ranking_min_volume: 4,
        ..ReportPolicy::DEFAULT
    };
    let r = ranking(&s.c.state, &range(), &policy, basis());
    assert_eq!(
        r.agencies.iter().map(|x| x.agency).collect::<Vec<_>>(),
        vec![s.b]
    );
    // In the CSV, after the (empty) handlers' lists.
    let csv = r.csv();
    assert!(
        csv.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("agencies 联动单位,1,城东派出所,4,0.9250,,75.0,100.0,,")),
        "{csv}"
    );
}

#[test]
fn a_reassignment_ends_the_first_clock_and_a_late_acceptance_counts_for_the_body_it_names() {
    let mut c = Community::new();
    let a = c.agency("物业维修公司", AgencyKind::Firm);
    let b = c.agency("区住建委", AgencyKind::Government);
    let t = c.ticket();
    c.dispatch(t, a, T1);
    // A accepted 1 h after dispatch, offline: the acceptance reaches the server after the reassignment to B at
    // T1 + 2 h. It is still valid (A was the ticket's body at its stamp) and counts for A, from A's dispatch.
    let late = c.step(t, T1 + HOUR, TicketOp::AgencyAccept(step(a)));
    c.dispatch(t, b, T1 + 2 * HOUR);
    c.push(&late);
    // B completes 5 h after its dispatch with no acceptance first: that is its acceptance too.
    c.complete(t, b, T1 + 7 * HOUR);
    // Then the ticket goes back to A at T1 + 3 days and sits there unaccepted: overdue (10 days − 3 days > 1 day).
    c.dispatch(t, a, T1 + 3 * DAY);

    let r = agencies(&c.state, &range(), &ReportPolicy::DEFAULT, basis());
    let ra = row(&r.agencies, a);
    // A: two dispatches. The first accepted after 1 h (met), ended by the reassignment 2 h in (completion not
    // judged, reassigned); the second lasting, nothing done: both clocks overdue.
    assert_eq!(
        (
            ra.dispatched,
            ra.accepted,
            ra.completed,
            ra.open,
            ra.reassigned
        ),
        (2, 1, 0, 1, 1)
    );
    assert_eq!(ra.acceptance.median_ms, Some(HOUR));
    assert_eq!(ra.acceptance.on_time, Rate::of(1, 2));
    assert_eq!(ra.completion.on_time, Rate::of(0, 1));
    assert_eq!((ra.acceptance.overdue, ra.completion.overdue), (1, 1));
    // B: one dispatch, ended by the dispatch back to A but completed first: not reassigned, not open; accepted and
    // completed after 5 h, both on time.
    let rb = row(&r.agencies, b);
    assert_eq!(
        (
            rb.dispatched,
            rb.accepted,
            rb.completed,
            rb.open,
            rb.reassigned
        ),
        (1, 1, 1, 0, 0)
    );
    assert_eq!(rb.acceptance.median_ms, Some(5 * HOUR));
    assert_eq!(rb.completion.p90_ms, Some(5 * HOUR));
    assert_eq!(rb.acceptance.on_time, Rate::of(1, 1));
    assert_eq!(rb.completion.on_time, Rate::of(1, 1));
    // The ticket's current body is A again.
    assert_eq!(c.state.ticket(&t).and_then(|t| t.agency()), Some(a));
}

/// Review of issue 13: a dispatch only ended at a close, and phones have no close step, so a ticket dispatched,
/// then solved by the cooperative's own handler, stayed "open" with the body and went overdue after 5 days.
#[test]
fn the_handlers_own_solve_ends_the_bodys_clock() {
    let mut c = Community::new();
    let a = c.agency("物业维修公司", AgencyKind::Firm);
    let t = c.ticket();
    c.dispatch(t, a, T1);
    c.accept(t, a, T1 + HOUR);
    // The handler solves it himself a day later; nothing more from the body.
    let solve = c.op(
        c.worker,
        T1 + DAY,
        OpBody::Ticket(t, TicketOp::Solve(Note::default())),
    );
    c.push(&solve);
    let r = agencies(&c.state, &range(), &ReportPolicy::DEFAULT, basis());
    let ra = row(&r.agencies, a);
    // Accepted after 1 h (met); the dispatch ended at the solve: not open, completion not judged, not overdue.
    assert_eq!(
        (ra.dispatched, ra.accepted, ra.completed, ra.open),
        (1, 1, 0, 0)
    );
    assert_eq!((ra.acceptance.overdue, ra.completion.overdue), (0, 0));
    assert_eq!(ra.completion.on_time, Rate::of(0, 0));
    assert!(r.overdue.iter().all(|o| o.ticket != t), "{:?}", r.overdue);
}

#[test]
fn councils_count_decided_complex_tickets_and_time_to_decision() {
    let mut s = scenario();
    let r1 =
        s.c.decision(Council::ResidentsCouncil, "3号楼居民议事会", "2026-11-28");
    let k1 =
        s.c.decision(Council::DeliberationClinic, "社区议事门诊", "2026-11-30");
    // A decision in the range with no ticket yet, and one outside the range: the first is listed, not the second.
    let k2 =
        s.c.decision(Council::DeliberationClinic, "社区议事门诊", "2026-12-02");
    s.c.decision(Council::ResidentsCouncil, "5号楼居民议事会", "2026-12-20");
    // a1 decided by R1 a day after creation, a2 by R1 after 2 days and by K1 after 4 days, b1 by K1 after 3 days.
    let (a1, a2, b1) = (s.a1, s.a2, s.b1);
    s.c.decide(a1, r1, T0 + DAY);
    s.c.decide(a2, r1, T0 + 2 * DAY);
    s.c.decide(b1, k1, T0 + 3 * DAY);
    s.c.decide(a2, k1, T0 + 4 * DAY);

    let r = councils(&s.c.state, &range(), &ReportPolicy::DEFAULT, basis());
    // Nine complex tickets (a1–a3, b1–b4, c2, c3); three decided.
    assert_eq!(r.complex, 9);
    assert_eq!(r.decided, Rate::of(3, 9));
    // Times to the first decision: 24, 48, 72 h → median rank 2 → 48 h, p90 rank 3 → 72 h.
    assert_eq!(r.to_decision.median_ms, Some(2 * DAY));
    assert_eq!(r.to_decision.p90_ms, Some(3 * DAY));
    // Residents' council: a1 24 h, a2 48 h → median rank 1 → 24 h, p90 rank 2 → 48 h; one decision listed.
    let rc = &r.by_council[0];
    assert_eq!(rc.council, Council::ResidentsCouncil);
    assert_eq!((rc.decisions, rc.tickets), (1, 2));
    assert_eq!(rc.to_decision.median_ms, Some(DAY));
    assert_eq!(rc.to_decision.p90_ms, Some(2 * DAY));
    // Deliberation clinic: b1 72 h, a2 96 h (its first clinic link) → median 72 h, p90 96 h; K1 and K2 listed.
    let dc = &r.by_council[1];
    assert_eq!(dc.council, Council::DeliberationClinic);
    assert_eq!((dc.decisions, dc.tickets), (2, 2));
    assert_eq!(dc.to_decision.median_ms, Some(3 * DAY));
    assert_eq!(dc.to_decision.p90_ms, Some(4 * DAY));
    // The decisions by date, each with its linked tickets in id order.
    let listed: Vec<(DecisionId, &str, usize)> = r
        .decisions
        .iter()
        .map(|d| (d.decision, d.date.as_str(), d.tickets.len()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (r1, "2026-11-28", 2),
            (k1, "2026-11-30", 2),
            (k2, "2026-12-02", 0)
        ]
    );
    let mut r1_tickets = vec![a1, a2];
    r1_tickets.sort();
    assert_eq!(r.decisions[0].tickets, r1_tickets);
    assert_eq!(r.decisions[0].council_name, "3号楼居民议事会");

    // CSV: the overall row (9 complex, 3 decided, 33.3 %, 48.0 h, 72.0 h), then one per kind and per decision.
    let csv = r.csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 1 + 2 + 3, "{csv}");
    assert_eq!(lines[1].trim_end(), "all,,,,9,3,33.3,48.0,72.0,,,");
    assert_eq!(
        lines[2].trim_end(),
        "council,residents_council,,,,2,,24.0,48.0,1,,"
    );
    assert!(lines[4].starts_with("decision,residents_council,3号楼居民议事会,2026-11-28,,2,"));
}
