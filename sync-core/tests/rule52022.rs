//! The 5-20-2-2 verdicts against hand-computed cases, with the boundaries at 4:59, 5:00 and 5:01.

use linli_sync_core::prelude::*;
use linli_sync_core::ticket::Ticket;

const T0: u64 = 1_795_766_400_000;
const MIN: u64 = 60_000;
const SEC: u64 = 1_000;
const DAY: u64 = 24 * 60 * MIN;

/// Builds a ticket from (offset ms after T0, op) pairs written on one phone.
fn ticket(complexity: Complexity, events: &[(u64, TicketOp)]) -> Ticket {
    let on_one_phone: Vec<(usize, u64, TicketOp)> =
        events.iter().map(|(at, op)| (0, *at, op.clone())).collect();
    ticket_on(complexity, &on_one_phone)
}

/// Builds a ticket from (phone, offset ms after T0, op) triples: each phone has its own clock.
fn ticket_on(complexity: Complexity, events: &[(usize, u64, TicketOp)]) -> Ticket {
    let mut state = State::new(Rules::DEFAULT);
    let grid = GridId::random();
    let id = TicketId::random();
    let mut phones: Vec<Writer> = (0..3)
        .map(|_| {
            Writer::new(
                ReplicaId::random(),
                UserId::random(),
                HlcClock::new(DriftPolicy::DEFAULT),
            )
        })
        .collect();
    let create = TicketOp::Create(TicketCreate {
        grid,
        request_type: RequestType::Help,
        category: "repair".into(),
        complexity,
        location: Location::default(),
        description: "门锁坏了".into(),
        channel: Channel::Desk,
        reporter: Reporter::default(),
        from_visit: None,
    });
    state.apply(&phones[2].op(T0 - MIN, OpBody::Ticket(id, create)));
    for (phone, at, op) in events {
        state.apply(&phones[*phone].op(T0 + at, OpBody::Ticket(id, op.clone())));
    }
    state.ticket(&id).cloned().expect("ticket")
}

fn take() -> TicketOp {
    TicketOp::Take(Note::default())
}
fn arrive() -> TicketOp {
    TicketOp::Arrive(Note::default())
}
fn solve() -> TicketOp {
    TicketOp::Solve(Note::default())
}
fn plan() -> TicketOp {
    TicketOp::Plan(Note {
        note: Some("plan".into()),
        public: false,
    })
}
fn answer() -> TicketOp {
    TicketOp::Answer(Note {
        note: Some("answer".into()),
        public: false,
    })
}

#[test]
fn on_site_boundaries() {
    // (arrival after taking, expected verdict)
    let cases = [
        (
            4 * MIN + 59 * SEC,
            Verdict::Met {
                elapsed_ms: 4 * MIN + 59 * SEC,
            },
        ),
        (
            5 * MIN,
            Verdict::Met {
                elapsed_ms: 5 * MIN,
            },
        ),
        (
            5 * MIN + 1,
            Verdict::Missed {
                elapsed_ms: 5 * MIN + 1,
            },
        ),
        (
            5 * MIN + SEC,
            Verdict::Missed {
                elapsed_ms: 5 * MIN + SEC,
            },
        ),
    ];
    for (arrival, want) in cases {
        let t = ticket(Complexity::Small, &[(0, take()), (arrival, arrive())]);
        let e = evaluate(&t, &Policy52022::STANDARD, T0 + DAY);
        assert_eq!(e.on_site, want, "arrival after {arrival} ms");
    }
}

#[test]
fn small_problem_solved_within_20_minutes_of_arrival() {
    let cases = [
        (19 * MIN + 59 * SEC, true),
        (20 * MIN, true),
        (20 * MIN + SEC, false),
    ];
    for (after_arrival, met) in cases {
        let t = ticket(
            Complexity::Small,
            &[
                (0, take()),
                (3 * MIN, arrive()),
                (3 * MIN + after_arrival, solve()),
            ],
        );
        let e = evaluate(&t, &Policy52022::STANDARD, T0 + DAY);
        assert_eq!(
            e.solved.is_met(),
            met,
            "solved {after_arrival} ms after arrival"
        );
        assert_eq!(e.plan, Verdict::NotApplicable);
        assert_eq!(e.answer, Verdict::NotApplicable);
        assert_eq!(e.compliant(), Some(met));
    }
}

#[test]
fn complex_problem_plan_and_answer_within_two_days_each() {
    let t = ticket(
        Complexity::Complex,
        &[
            (0, take()),
            (4 * MIN, arrive()),
            (2 * DAY, plan()),
            (2 * DAY + 2 * DAY + SEC, answer()),
        ],
    );
    let e = evaluate(&t, &Policy52022::STANDARD, T0 + 10 * DAY);
    assert_eq!(
        e.on_site,
        Verdict::Met {
            elapsed_ms: 4 * MIN
        }
    );
    assert_eq!(e.solved, Verdict::NotApplicable);
    assert_eq!(
        e.plan,
        Verdict::Met {
            elapsed_ms: 2 * DAY
        }
    );
    assert_eq!(
        e.answer,
        Verdict::Missed {
            elapsed_ms: 2 * DAY + SEC
        }
    );
    assert_eq!(e.compliant(), Some(false));
}

#[test]
fn a_plan_makes_a_small_ticket_complex() {
    let t = ticket(Complexity::Small, &[(0, take()), (MIN, plan())]);
    let e = evaluate(&t, &Policy52022::STANDARD, T0 + 3 * MIN);
    assert_eq!(e.complexity, Complexity::Complex);
    assert_eq!(e.plan, Verdict::Met { elapsed_ms: MIN });
    assert_eq!(
        e.answer,
        Verdict::Pending {
            deadline_ms: T0 + MIN + 2 * DAY
        }
    );
}

#[test]
fn pending_and_overdue_are_judged_at_now() {
    let t = ticket(Complexity::Small, &[(0, take())]);
    assert_eq!(
        evaluate(&t, &Policy52022::STANDARD, T0 + 5 * MIN).on_site,
        Verdict::Pending {
            deadline_ms: T0 + 5 * MIN
        }
    );
    assert_eq!(
        evaluate(&t, &Policy52022::STANDARD, T0 + 5 * MIN + 1).on_site,
        Verdict::Overdue {
            deadline_ms: T0 + 5 * MIN
        }
    );
    let untaken = ticket(Complexity::Small, &[]);
    let e = evaluate(&untaken, &Policy52022::STANDARD, T0 + DAY);
    assert_eq!(
        (e.on_site, e.solved),
        (Verdict::NotStarted, Verdict::NotStarted)
    );
    assert_eq!(e.compliant(), None);
}

#[test]
fn two_workers_on_site_offline_keep_both_events_and_the_first_counts() {
    // Both take and arrive on their own phones; the verdict uses the first take and the first arrival after it.
    let t = ticket_on(
        Complexity::Small,
        &[
            (0, 0, take()),
            (1, MIN, take()),
            (0, 6 * MIN, arrive()),
            (1, 4 * MIN, arrive()),
            (1, 10 * MIN, solve()),
        ],
    );
    assert_eq!(t.timeline().count(), 6, "create + 5 events, none lost");
    let e = evaluate(&t, &Policy52022::STANDARD, T0 + DAY);
    assert_eq!(
        e.on_site,
        Verdict::Met {
            elapsed_ms: 4 * MIN
        }
    );
    assert_eq!(
        e.solved,
        Verdict::Met {
            elapsed_ms: 6 * MIN
        }
    );
    assert_eq!(t.status(), Status::Solved);
}

#[test]
fn the_policy_is_one_value() {
    let strict = Policy52022 {
        on_site_ms: 3 * MIN,
        ..Policy52022::STANDARD
    };
    let t = ticket(Complexity::Small, &[(0, take()), (4 * MIN, arrive())]);
    assert!(
        evaluate(&t, &Policy52022::STANDARD, T0 + DAY)
            .on_site
            .is_met()
    );
    assert!(!evaluate(&t, &strict, T0 + DAY).on_site.is_met());
}
