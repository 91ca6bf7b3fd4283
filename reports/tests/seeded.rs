//! Every report against a small seeded community whose expected figures were worked out by hand (in the comments
//! next to each assertion), not by the code under test. Includes the boundaries: on site at exactly 5:00 and at
//! 5:01, solved at exactly 20:00, an answer 1 ms late.

use linli_reports::calendar::day_range;
use linli_reports::compliance::compliance;
use linli_reports::coverage::{Outcome, coverage};
use linli_reports::fees::{CashPayment, FeeDue, Ledger, fees};
use linli_reports::hours::hours;
use linli_reports::outcomes::outcomes;
use linli_reports::ranking::ranking;
use linli_reports::stats::Rate;
use linli_reports::{Basis, Filter, ReportPolicy};
use linli_sync_core::grid::Household;
use linli_sync_core::prelude::*;

const MIN: u64 = 60_000;
const DAY: u64 = 24 * 60 * MIN;
/// 2026-11-27 00:00 in UTC+8.
const D: u64 = 1_795_708_800_000;
/// 09:00 local on day D.
const T0: u64 = D + 9 * 60 * MIN;

struct World {
    state: State,
    g1: GridId,
    g2: GridId,
    h: [HouseholdId; 5],
    w1: UserId,
    w2: UserId,
    b: UserId,
    t: [TicketId; 5],
    office: ReplicaId,
}

fn phone(user: UserId) -> Writer {
    Writer::new(
        ReplicaId::random(),
        user,
        HlcClock::new(DriftPolicy::DEFAULT),
    )
}

fn world() -> World {
    let mut state = State::new(Rules::DEFAULT);
    fn apply_to(state: &mut State, ops: Vec<Op>) {
        for op in ops {
            state
                .validate_op(&op)
                .unwrap_or_else(|e| panic!("{}: {e}", op.kind()));
            state.apply(&op);
        }
    }
    let (admin, w1, w2, b, office_user) = (
        UserId::random(),
        UserId::random(),
        UserId::random(),
        UserId::random(),
        UserId::random(),
    );
    let mut server = Writer::new(
        ReplicaId::SERVER,
        admin,
        HlcClock::new(DriftPolicy::DEFAULT),
    );
    let (g1, g2) = (GridId::random(), GridId::random());
    let h: [HouseholdId; 5] = std::array::from_fn(|_| HouseholdId::random());
    let mut setup = Vec::new();
    for g in [g1, g2] {
        setup.push(server.op(
            D,
            OpBody::Grid(
                g,
                GridOp::Create {
                    name: "网格".into(),
                    community: "幸福里".into(),
                },
            ),
        ));
    }
    // H1, H2 (elderly), H3, H4 (not) in G1; H5 (elderly) in G2.
    for (i, hh) in h.iter().enumerate() {
        let grid = if i < 4 { g1 } else { g2 };
        setup.push(server.op(
            D,
            OpBody::Grid(
                grid,
                GridOp::AddHousehold {
                    household: *hh,
                    details: Household {
                        building: if i < 2 { "1" } else { "2" }.into(),
                        unit: "1".into(),
                        room: format!("10{i}"),
                        elderly_alone: matches!(i, 0 | 1 | 4),
                        contact_name: None,
                    },
                },
            ),
        ));
        setup.push(server.op(
            D,
            OpBody::Grid(
                grid,
                GridOp::AssignVisit {
                    household: *hh,
                    butler: b,
                },
            ),
        ));
    }
    for (g, w) in [(g1, w1), (g2, w2)] {
        setup.push(server.op(
            D,
            OpBody::Grid(
                g,
                GridOp::AddMember {
                    user: w,
                    role: MemberRole::Worker,
                },
            ),
        ));
        setup.push(server.op(
            D,
            OpBody::Grid(
                g,
                GridOp::AddMember {
                    user: b,
                    role: MemberRole::Butler,
                },
            ),
        ));
    }
    apply_to(&mut state, setup);

    let (mut p1, mut p2) = (phone(w1), phone(w2));
    let t: [TicketId; 5] = std::array::from_fn(|_| TicketId::random());
    let create = |grid, category: &str, complexity, channel| {
        TicketOp::Create(TicketCreate {
            grid,
            request_type: RequestType::Complaint,
            category: category.into(),
            complexity,
            location: Location {
                building: "1".into(),
                ..Location::default()
            },
            description: "问题".into(),
            channel,
            reporter: Reporter::default(),
            from_visit: None,
        })
    };
    let n = Note::default;
    let text = || Note {
        note: Some("内容".into()),
        public: false,
    };
    let ev = |w: &mut Writer, t: TicketId, at: u64, op: TicketOp| w.op(at, OpBody::Ticket(t, op));
    let mut ops = vec![
        // T1: taken at +1m, on site exactly 5:00 later, solved exactly 20:00 after arrival, answered, rated 5.
        ev(
            &mut p1,
            t[0],
            T0,
            create(g1, "water_leak", Complexity::Small, Channel::Desk),
        ),
        ev(&mut p1, t[0], T0 + MIN, TicketOp::Take(n())),
        ev(&mut p1, t[0], T0 + 6 * MIN, TicketOp::Arrive(n())),
        ev(&mut p1, t[0], T0 + 26 * MIN, TicketOp::Solve(n())),
        ev(&mut p1, t[0], T0 + 30 * MIN, TicketOp::Answer(text())),
        ev(
            &mut p1,
            t[0],
            T0 + 31 * MIN,
            TicketOp::Rate(Rating {
                satisfaction: 5,
                note: None,
            }),
        ),
    ];
    // T2: taken 40 minutes after creation (not timely), on site 5:01 after taking, solved 10 minutes later, rated 2,
    // then reopened.
    ops.extend([
        ev(
            &mut p1,
            t[1],
            T0 + 60 * MIN,
            create(g1, "noise", Complexity::Small, Channel::GroupChat),
        ),
        ev(&mut p1, t[1], T0 + 100 * MIN, TicketOp::Take(n())),
        ev(&mut p1, t[1], T0 + 105 * MIN + 1_000, TicketOp::Arrive(n())),
        ev(&mut p1, t[1], T0 + 115 * MIN + 1_000, TicketOp::Solve(n())),
        ev(&mut p1, t[1], T0 + 116 * MIN, TicketOp::Answer(text())),
        ev(
            &mut p1,
            t[1],
            T0 + 117 * MIN,
            TicketOp::Rate(Rating {
                satisfaction: 2,
                note: None,
            }),
        ),
        ev(&mut p1, t[1], T0 + 118 * MIN, TicketOp::Reopen(n())),
    ]);
    // T3: a complex dispute: on site in 2 minutes, plan after exactly 1 day, answer 2 days and 1 ms after the plan,
    // then solved and closed.
    ops.extend([
        ev(
            &mut p1,
            t[2],
            T0 + 120 * MIN,
            create(g1, "dispute", Complexity::Complex, Channel::Desk),
        ),
        ev(&mut p1, t[2], T0 + 122 * MIN, TicketOp::Take(n())),
        ev(&mut p1, t[2], T0 + 124 * MIN, TicketOp::Arrive(n())),
        ev(&mut p1, t[2], T0 + 122 * MIN + DAY, TicketOp::Plan(text())),
        ev(
            &mut p1,
            t[2],
            T0 + 122 * MIN + 3 * DAY + 1,
            TicketOp::Answer(text()),
        ),
        ev(
            &mut p1,
            t[2],
            T0 + 122 * MIN + 3 * DAY + 2,
            TicketOp::Solve(n()),
        ),
        ev(
            &mut p1,
            t[2],
            T0 + 122 * MIN + 3 * DAY + 3,
            TicketOp::Close(n()),
        ),
    ]);
    // T4: a dispute in G2 taken after 3 minutes, never reached (overdue), sent back.
    ops.extend([
        ev(
            &mut p2,
            t[3],
            T0,
            create(g2, "dispute", Complexity::Small, Channel::Phone),
        ),
        ev(&mut p2, t[3], T0 + 3 * MIN, TicketOp::Take(n())),
        ev(&mut p2, t[3], T0 + 4 * 60 * MIN, TicketOp::SendBack(n())),
    ]);
    // T5: never taken.
    ops.push(ev(
        &mut p2,
        t[4],
        T0 + 5 * MIN,
        create(g2, "hazard", Complexity::Small, Channel::Patrol),
    ));
    apply_to(&mut state, ops);

    // Day D+1: the butler knocks. H1 seen with a health flag (raises a follow-up ticket), H2 twice not seen, H5
    // missed; a visit to H1 the day before does not count for D+1.
    let mut bp = phone(b);
    let visit = |household, grid, seen, health| Visit {
        volunteer: b,
        grid,
        household,
        seen,
        health,
        needs: vec![],
        notes: String::new(),
        follow_up: None,
    };
    let mut visits = bp.visit(
        D + 10 * 60 * MIN,
        EntryId::random(),
        visit(h[0], g1, true, None),
    );
    visits.extend(bp.visit(
        D + DAY + 9 * 60 * MIN,
        EntryId::random(),
        visit(h[0], g1, true, Some(HealthFlag::Unwell)),
    ));
    visits.extend(bp.visit(
        D + DAY + 9 * 60 * MIN + MIN,
        EntryId::random(),
        visit(h[1], g1, false, None),
    ));
    visits.extend(bp.visit(
        D + DAY + 15 * 60 * MIN,
        EntryId::random(),
        visit(h[1], g1, false, None),
    ));
    apply_to(&mut state, visits);

    // Hours: the butler 90 min in G1 (approved: 15 points) and 30 min in G2 (pending); W1 60 min in G1 (rejected).
    let activity = |volunteer, grid, start: u64, minutes: u64| {
        EntryOp::Activity(Activity {
            volunteer,
            grid,
            activity: "patrol".into(),
            start_ms: start,
            end_ms: start + minutes * MIN,
            notes: String::new(),
        })
    };
    let (a1, a2, a3) = (EntryId::random(), EntryId::random(), EntryId::random());
    apply_to(
        &mut state,
        vec![
            bp.op(
                D + 3 * 60 * MIN,
                OpBody::Entry(a1, activity(b, g1, D + 60 * MIN, 90)),
            ),
            bp.op(
                D + 4 * 60 * MIN,
                OpBody::Entry(a2, activity(b, g2, D + 3 * 60 * MIN, 30)),
            ),
            p1.op(
                D + 5 * 60 * MIN + 3 * DAY,
                OpBody::Entry(a3, activity(w1, g1, D + 4 * 60 * MIN, 60)),
            ),
        ],
    );
    let approval = p1
        .approve(&state, D + 6 * 60 * MIN + 3 * DAY, a1, None)
        .expect("approvable");
    apply_to(&mut state, approval);
    apply_to(
        &mut state,
        vec![p1.op(
            D + 7 * 60 * MIN + 3 * DAY,
            OpBody::Entry(
                a3,
                EntryOp::Reject(Reason {
                    reason: Some("重复".into()),
                }),
            ),
        )],
    );
    // Card: the server grants 10 of the 15 points to the office, which offsets 8 points of H1's November fee.
    let office = ReplicaId::random();
    apply_to(
        &mut state,
        vec![server.op(
            D + 3 * DAY + 8 * 60 * MIN,
            OpBody::Card(
                b,
                CardOp::Transfer {
                    to: office,
                    points: Points(10),
                    seq: 1,
                },
            ),
        )],
    );
    let mut op_office = Writer::new(office, office_user, HlcClock::new(DriftPolicy::DEFAULT));
    apply_to(
        &mut state,
        vec![op_office.op(
            D + 3 * DAY + 9 * 60 * MIN,
            OpBody::Card(
                b,
                CardOp::Redeem {
                    points: Points(8),
                    seq: 1,
                    purpose: Purpose::FeeOffset {
                        household: h[0],
                        period: "2026-11".into(),
                    },
                },
            ),
        )],
    );

    World {
        state,
        g1,
        g2,
        h,
        w1,
        w2,
        b,
        t,
        office,
    }
}

fn day_d() -> Filter {
    Filter::between(D, D + DAY)
}

fn basis() -> Basis {
    // Judged a day after the tickets were raised.
    Basis::new(42, T0 + DAY)
}

fn rate(n: usize, d: usize) -> Rate {
    Rate::of(n, d)
}

#[test]
fn the_day_boundaries_are_local_midnight() {
    assert_eq!(day_range("2026-11-27", 480), Some((D, D + DAY)));
    assert_eq!(
        day_range("2024-02-29", 0).map(|(s, _)| s),
        Some(1_709_164_800_000)
    );
    assert_eq!(day_range("2026-02-29", 480), None);
    assert_eq!(day_range("2026-13-01", 480), None);
    assert_eq!(day_range("27/11/2026", 480), None);
}

#[test]
fn outcomes_match_hand_computed_figures() {
    let w = world();
    let o = outcomes(&w.state, &day_d(), &ReportPolicy::DEFAULT, basis());
    // T1..T5 were created on day D; the follow-up ticket was raised on D+1.
    assert_eq!(o.tickets, 5);
    assert_eq!(o.by_channel.get("desk"), Some(&2));
    assert_eq!(o.by_channel.get("group_chat"), Some(&1));
    assert_eq!(o.by_category.get("dispute"), Some(&2));
    assert_eq!(o.by_status.get("reopened"), Some(&1));
    assert_eq!(o.by_status.get("closed"), Some(&1));
    // Resolved: T1 (answered) and T3 (closed); T2 was reopened, T4 sent back, T5 untouched.
    assert_eq!(o.rates.resolution, rate(2, 5));
    // Accepted within 30 min: T1 (1 min), T3 (2 min), T4 (3 min); T2 took 40 min, T5 was never taken.
    assert_eq!(o.rates.timely_acceptance, rate(3, 5));
    // Decided: T1 compliant; T2 (on site 5:01), T3 (answer 1 ms late), T4 (overdue) not; T5 not started.
    assert_eq!(o.rates.on_time_completion, rate(1, 4));
    // Rated: T1 (5) satisfied, T2 (2) not.
    assert_eq!(o.rates.satisfaction, rate(1, 2));
    assert_eq!(o.rates.reopened, rate(1, 5));
    assert_eq!(o.rates.sent_back, rate(1, 5));
    // Disputes: T3 resolved, T4 not.
    assert_eq!(o.disputes, rate(1, 2));
    assert_eq!(o.basis.time, "device_event_time");
}

/// Tickets with a linked body (issue 13): dispatched and accepted ones are open, a completed one is resolved; the
/// five seeded tickets keep their figures.
#[test]
fn a_ticket_with_a_linked_body_is_open_until_the_body_completes_it() {
    let mut w = world();
    let mut worker = phone(w.w1);
    let agency = AgencyId::random();
    let mut ops = vec![worker.op(
        T0,
        OpBody::Agency(
            agency,
            AgencyOp::Create(AgencyCreate {
                name: "综合行政执法局".into(),
                kind: AgencyKind::LawEnforcement,
                contact_role: "执法队值班".into(),
                categories: vec![],
            }),
        ),
    )];
    let step = || AgencyStep {
        agency,
        note: None,
        public: false,
    };
    let tickets: [TicketId; 3] = std::array::from_fn(|_| TicketId::random());
    for (i, t) in tickets.iter().enumerate() {
        let at = T0 + 10 * MIN * i as u64;
        let ev = |w: &mut Writer, dt: u64, op| w.op(at + dt, OpBody::Ticket(*t, op));
        ops.push(ev(
            &mut worker,
            0,
            TicketOp::Create(TicketCreate {
                grid: w.g1,
                request_type: RequestType::Report,
                category: "street_vending".into(),
                complexity: Complexity::Small,
                location: Location {
                    building: "2".into(),
                    ..Location::default()
                },
                description: "占道经营".into(),
                channel: Channel::Desk,
                reporter: Reporter::default(),
                from_visit: None,
            }),
        ));
        ops.push(ev(&mut worker, MIN, TicketOp::Take(Note::default())));
        ops.push(ev(&mut worker, 2 * MIN, TicketOp::Dispatch(step())));
        if i >= 1 {
            ops.push(ev(&mut worker, 3 * MIN, TicketOp::AgencyAccept(step())));
        }
        if i == 2 {
            ops.push(ev(&mut worker, 4 * MIN, TicketOp::AgencyComplete(step())));
        }
    }
    for op in &ops {
        w.state
            .validate_op(op)
            .unwrap_or_else(|e| panic!("{}: {e}", op.kind()));
        w.state.apply(op);
    }
    let o = outcomes(&w.state, &day_d(), &ReportPolicy::DEFAULT, basis());
    assert_eq!(o.tickets, 8);
    assert_eq!(o.by_status.get("dispatched"), Some(&1));
    assert_eq!(o.by_status.get("with_agency"), Some(&1));
    // Resolved: T1 and T3 as before, and the ticket the body completed.
    assert_eq!(o.rates.resolution, rate(3, 8));
}

#[test]
fn compliance_matches_hand_computed_figures_at_the_boundaries() {
    let w = world();
    let c = compliance(&w.state, &day_d(), &ReportPolicy::DEFAULT, basis());
    // On site: T1 met at exactly 5:00, T2 missed at 5:01, T3 met at 2:00, T4 overdue, T5 not started.
    assert_eq!(c.overall.on_site.met, rate(2, 4));
    // Done times 2:00, 5:00, 5:01: median (nearest rank 2 of 3) 5:00, p90 (rank 3) 5:01.
    assert_eq!(c.overall.on_site.median_ms, Some(5 * MIN));
    assert_eq!(c.overall.on_site.p90_ms, Some(5 * MIN + 1_000));
    // Small solved: T1 at exactly 20:00 and T2 at 10:00 met; T4 overdue.
    assert_eq!(c.overall.small_solved.met, rate(2, 3));
    // Complex: T3's plan after 1 day met; its answer 2 days + 1 ms after the plan missed.
    assert_eq!(c.overall.complex_plan.met, rate(1, 1));
    assert_eq!(c.overall.complex_answer.met, rate(0, 1));
    assert_eq!(c.overall.complex_answer.median_ms, Some(2 * DAY + 1));
    // By handler: W1 took T1..T3, W2 took T4, T5 is untaken.
    let w1 = c
        .by_handler
        .iter()
        .find(|r| r.key == w.w1.to_string())
        .expect("w1");
    assert_eq!((w1.tickets, w1.on_site.met), (3, rate(2, 3)));
    let untaken = c
        .by_handler
        .iter()
        .find(|r| r.key == "untaken")
        .expect("untaken");
    assert_eq!(untaken.tickets, 1);
    let g2 = c
        .by_grid
        .iter()
        .find(|r| r.key == w.g2.to_string())
        .expect("g2");
    assert_eq!(g2.tickets, 2);
    // Overdue now: T4's on-site (take + 5 min) and small-solved (take + 20 min) deadlines.
    let overdue: Vec<(TicketId, &str, u64)> = c
        .overdue
        .iter()
        .map(|o| (o.ticket, o.step.as_str(), o.deadline_ms))
        .collect();
    assert_eq!(
        overdue,
        vec![
            (w.t[3], "on_site", T0 + 8 * MIN),
            (w.t[3], "small_solved", T0 + 23 * MIN)
        ]
    );
    // Over time: all five were created on day D (local).
    assert_eq!(
        c.by_day
            .iter()
            .map(|r| (r.key.as_str(), r.tickets))
            .collect::<Vec<_>>(),
        vec![("2026-11-27", 5)]
    );
    // Scoped to G1 only.
    let only_g1 = Filter {
        grids: Some([w.g1].into()),
        ..day_d()
    };
    assert_eq!(
        compliance(&w.state, &only_g1, &ReportPolicy::DEFAULT, basis())
            .overall
            .tickets,
        3
    );
}

#[test]
fn red_and_black_lists_match_hand_computed_scores() {
    let w = world();
    // Default minimum volume 3: only W1 (3 tickets) is ranked.
    let r = ranking(&w.state, &day_d(), &ReportPolicy::DEFAULT, basis());
    assert_eq!(
        r.all.iter().map(|x| x.handler).collect::<Vec<_>>(),
        vec![w.w1]
    );
    assert!(r.black.is_empty(), "nobody is on both lists");
    // Minimum volume 1, one name per list.
    let policy = ReportPolicy {
        ranking_min_volume: 1,
        ranking_size: 1,
        ..ReportPolicy::DEFAULT
    };
    let r = ranking(&w.state, &day_d(), &policy, basis());
    // W1: 0.2·3/3 + 0.3·1/2 + 0.2·2/3 + 0.2·1/3 − 0.05·1/3 − 0.05·0 = 0.533333…
    // W2: 0.2·1/3 + 0.3·(pooled 1/2, no rating of W2's own) + 0.2·1 + 0.2·0 − 0.05·0 − 0.05·1 = 0.366666…
    assert_eq!(r.red.len(), 1);
    assert_eq!(r.red[0].handler, w.w1);
    assert!(
        (r.red[0].score - 0.533_333_333).abs() < 1e-6,
        "{}",
        r.red[0].score
    );
    assert_eq!(r.black[0].handler, w.w2);
    assert!(
        (r.black[0].score - 0.366_666_667).abs() < 1e-6,
        "{}",
        r.black[0].score
    );
}

#[test]
fn coverage_lists_missed_households_first() {
    let w = world();
    let c = coverage(
        &w.state,
        "2026-11-28",
        &Filter::default(),
        &ReportPolicy::DEFAULT,
        basis(),
    )
    .expect("valid day");
    // Elderly households: H1, H2, H5. H5 missed, H2 knocked twice but not seen, H1 seen.
    let order: Vec<(HouseholdId, Outcome, usize)> = c
        .rows
        .iter()
        .map(|r| (r.household, r.outcome, r.visits.len()))
        .collect();
    assert_eq!(
        order,
        vec![
            (w.h[4], Outcome::Missed, 0),
            (w.h[1], Outcome::NotSeen, 2),
            (w.h[0], Outcome::Seen, 1)
        ]
    );
    assert_eq!(c.visited, rate(2, 3));
    assert_eq!(c.seen, rate(1, 3));
    assert_eq!(c.rows[0].assigned, vec![w.b]);
    // The health flag raised a follow-up ticket, still open.
    assert_eq!(c.alerts.len(), 1);
    assert_eq!(c.alerts[0].household, w.h[0]);
    assert_eq!(c.alerts[0].ticket_status, Some(Status::Open));
    // Nothing was removed in this community: nothing to review.
    assert!(c.review.is_empty());
    // The day before, only H1 was visited.
    let before = coverage(
        &w.state,
        "2026-11-27",
        &Filter::default(),
        &ReportPolicy::DEFAULT,
        basis(),
    )
    .expect("valid day");
    assert_eq!(before.visited, rate(1, 3));
    assert!(
        coverage(
            &w.state,
            "2026-11-31",
            &Filter::default(),
            &ReportPolicy::DEFAULT,
            basis()
        )
        .is_none()
    );
    // CSV for spreadsheets: BOM, header, missed first.
    let csv = c.csv();
    assert!(csv.starts_with('\u{feff}'));
    assert_eq!(
        csv.lines().nth(1).map(|l| l.starts_with("missed,")),
        Some(true)
    );
}

#[test]
fn hours_and_cards_match_hand_computed_figures() {
    let w = world();
    let h = hours(&w.state, &Filter::between(D, D + DAY), basis());
    let b = h
        .volunteers
        .iter()
        .find(|v| v.volunteer == w.b)
        .expect("butler");
    assert_eq!(
        (b.approved_minutes, b.pending_minutes, b.refused_minutes),
        (90, 30, 0)
    );
    let w1 = h
        .volunteers
        .iter()
        .find(|v| v.volunteer == w.w1)
        .expect("w1");
    assert_eq!((w1.approved_minutes, w1.refused_minutes), (0, 60));
    assert_eq!(h.approved_by_grid.get(&w.g1), Some(&90));
    assert_eq!(h.approved_by_grid.get(&w.g2), None);
    // Card: 90 min at 10 points an hour = 15 credited; 8 redeemed; balance 7; rights: server 5, office 2.
    let card = h.cards.iter().find(|c| c.volunteer == w.b).expect("card");
    assert_eq!((card.credited, card.redeemed, card.balance), (15, 8, 7));
    assert_eq!(card.rights.get(&ReplicaId::SERVER), Some(&5));
    assert_eq!(card.rights.get(&w.office), Some(&2));
    // The movements of day D: none (credit and redemption happened three days later).
    assert!(card.movements.is_empty());
    let all_time = hours(&w.state, &Filter::between(0, u64::MAX), basis());
    let card = all_time
        .cards
        .iter()
        .find(|c| c.volunteer == w.b)
        .expect("card");
    assert_eq!(card.movements.len(), 2);
}

#[test]
fn fee_collection_matches_hand_computed_figures() {
    let w = world();
    let ledger = Ledger {
        dues: vec![
            FeeDue {
                household: w.h[0],
                period: "2026-11".into(),
                amount_fen: 10_000,
            },
            FeeDue {
                household: w.h[1],
                period: "2026-11".into(),
                amount_fen: 10_000,
            },
            FeeDue {
                household: w.h[4],
                period: "2026-11".into(),
                amount_fen: 8_000,
            },
            FeeDue {
                household: w.h[4],
                period: "2026-12".into(),
                amount_fen: 8_000,
            },
        ],
        payments: vec![
            CashPayment {
                household: w.h[1],
                period: "2026-11".into(),
                amount_fen: 10_000,
            },
            CashPayment {
                household: w.h[4],
                period: "2026-11".into(),
                amount_fen: 4_000,
            },
        ],
    };
    let f = fees(
        &w.state,
        &ledger,
        "2026-11",
        "2026-11",
        &Filter::default(),
        &ReportPolicy::DEFAULT,
        basis(),
    );
    let row = |level: &str, key: String| {
        f.rows
            .iter()
            .find(|r| r.level == level && r.key == key && r.period == "2026-11")
            .cloned()
            .expect("row")
    };
    // Community: due 280 yuan; cash 140; offset 8 points × 1 yuan = 8; rate 148/280.
    let c = row("community", "幸福里".into());
    assert_eq!((c.due_fen, c.cash_fen, c.offset_fen), (28_000, 14_000, 800));
    assert!((c.rate.value.expect("rate") - 148.0 / 280.0).abs() < 1e-12);
    // G1: due 200, cash 100, offset 8 → 54 %; G2: due 80, cash 40 → 50 %.
    assert_eq!(row("grid", w.g1.to_string()).rate.value, Some(0.54));
    assert_eq!(row("grid", w.g2.to_string()).rate.value, Some(0.5));
    // Building 1 of G1 holds H1 and H2: the same as G1.
    assert_eq!(row("building", format!("{}/1", w.g1)).due_fen, 20_000);
    // December is outside the period range.
    assert!(f.rows.iter().all(|r| r.period == "2026-11"));
    assert!(f.csv().contains("200.00,100.00,8.00,54.0"));
}

#[test]
fn dues_import_matches_households_and_is_all_or_nothing() {
    use linli_reports::fees::parse_dues;
    let w = world();
    // As a property office keeps it: Chinese headers, a BOM, yuan amounts, building/unit/room.
    let good = "\u{feff}楼号,单元,房号,期间,应收金额\r\n1,1,100,2026-11,100\r\n1,1,101,2026-11,\"1,000.50\"\r\n";
    let dues = parse_dues(good, &w.state).expect("imports");
    assert_eq!(dues.len(), 2);
    assert_eq!((dues[0].household, dues[0].amount_fen), (w.h[0], 10_000));
    assert_eq!((dues[1].household, dues[1].amount_fen), (w.h[1], 100_050));
    // English headers in another order work too.
    let english = "period,amount,room,unit,building\n2026-12,80,104,1,2\n";
    assert_eq!(
        parse_dues(english, &w.state).map(|d| d[0].household),
        Ok(w.h[4])
    );
    // One file with four bad rows: nothing is imported, and every bad row is named.
    let bad = "楼号,单元,房号,期间,应收金额\n1,1,100,2026-11,100\n9,9,999,2026-11,100\n1,1,101,2026-13,100\n1,1,101,2026-11,-5\n1,1,100,2026-11,100\n";
    let errors = parse_dues(bad, &w.state).expect_err("refused as a whole");
    assert_eq!(
        errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![3, 4, 5, 6]
    );
    assert!(errors[0].reason.contains("no household"));
    assert!(errors[3].reason.contains("line 2"));
    let missing = parse_dues("楼号,单元,期间\n1,1,2026-11\n", &w.state)
        .expect_err("no room or amount column");
    assert_eq!(missing[0].line, 1);
    assert!(missing[0].reason.contains("room") && missing[0].reason.contains("amount"));
}
