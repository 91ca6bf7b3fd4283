//! The property tests are only as strong as the histories they get. This checks that the simulated community
//! really produces the hard cases: concurrent lifecycle events on one ticket, double approvals, card redemptions
//! on devices holding granted rights, redemptions that reach a replica before the credit that paid for them, and
//! add/remove races. If a change to the generator stops producing one of them, this fails.

use linli_sync_core::entry::DecisionKind;
use linli_sync_core::prelude::*;
use linli_sync_core::test_support::{History, action};
use linli_sync_core::ticket::EventKind;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

#[derive(Debug, Default)]
struct Seen {
    histories: usize,
    ops: usize,
    concurrent_takes: usize,
    double_approvals: usize,
    credits: usize,
    grants: usize,
    redemptions: usize,
    out_of_order_redemptions: usize,
    unassigns: usize,
    follow_up_tickets: usize,
}

#[test]
fn histories_exercise_the_hard_cases() {
    // A fixed seed: with a random one, 12 of 200 runs drew no double approval (found when a run failed while
    // reviewing an unrelated change), so the check said more about the draw than about the generator.
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::collection::vec(action(), 40..80);
    let mut seen = Seen::default();
    for i in 0..300 {
        let actions = strategy.new_tree(&mut runner).expect("tree").current();
        let h = History::simulate(2 + i % 4, &actions);
        seen.histories += 1;
        seen.ops += h.ops.len();
        let mut s = State::new(Rules::DEFAULT);
        for op in &h.ops {
            s.apply(op);
        }
        for t in s.tickets().values() {
            if t.timeline()
                .filter(|(_, e)| e.kind == EventKind::Taken)
                .count()
                > 1
            {
                seen.concurrent_takes += 1;
            }
        }
        for e in s.entries().values() {
            if e.decisions
                .values()
                .filter(|d| d.kind == DecisionKind::Approve)
                .count()
                > 1
            {
                seen.double_approvals += 1;
            }
        }
        for op in &h.ops {
            match op.kind() {
                OpKind::CardCredit => seen.credits += 1,
                OpKind::CardTransfer => seen.grants += 1,
                OpKind::CardRedeem => seen.redemptions += 1,
                OpKind::GridUnassignVisit | OpKind::TicketUnassign => seen.unassigns += 1,
                OpKind::TicketCreate => {
                    if matches!(&op.body, OpBody::Ticket(_, TicketOp::Create(c)) if c.from_visit.is_some())
                    {
                        seen.follow_up_tickets += 1;
                    }
                }
                _ => {}
            }
        }
        // Deliver in reverse: every redemption then arrives before the credits that paid for it.
        let mut r = State::new(Rules::DEFAULT);
        for op in h.ops.iter().rev() {
            r.apply(op);
            seen.out_of_order_redemptions += r
                .cards()
                .values()
                .map(|c| c.pending().count())
                .sum::<usize>()
                .min(1);
        }
    }
    println!("{seen:#?}");
    assert!(
        seen.ops > seen.histories * 20,
        "histories too short: {seen:?}"
    );
    assert!(seen.concurrent_takes > 3, "{seen:?}");
    assert!(seen.double_approvals > 0, "{seen:?}");
    assert!(seen.credits > 10, "{seen:?}");
    assert!(seen.grants > 40, "{seen:?}");
    assert!(seen.redemptions > 30, "{seen:?}");
    assert!(seen.out_of_order_redemptions > 0, "{seen:?}");
    assert!(seen.unassigns > 0, "{seen:?}");
    assert!(seen.follow_up_tickets > 0, "{seen:?}");
}

/// Every uuid an op's wire form names (its id, replica, author and every id in its body).
fn uuids(op: &Op, out: &mut std::collections::HashSet<uuid::Uuid>) {
    fn walk(v: &serde_json::Value, out: &mut std::collections::HashSet<uuid::Uuid>) {
        match v {
            serde_json::Value::String(s) => {
                if let Ok(u) = s.parse() {
                    out.insert(u);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(o) => o.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&op.to_value(), out);
}

#[test]
fn community_years_of_different_communities_share_no_id() {
    // Several community-years are held in one log by the start-up benchmark: an id in common would merge two
    // communities' entities (or drop an op as a duplicate) and measure a smaller state than the one claimed.
    use linli_sync_core::test_support::{community_year, community_year_of};
    let year0 = 1_767_225_600_000;
    assert_eq!(community_year_of(0, year0, 3), community_year(year0, 3));
    let mut first = std::collections::HashSet::new();
    community_year_of(0, year0, 3)
        .iter()
        .for_each(|op| uuids(op, &mut first));
    for community in [1, 7, 159] {
        let mut other = std::collections::HashSet::new();
        community_year_of(community, year0, 3)
            .iter()
            .for_each(|op| uuids(op, &mut other));
        let shared: Vec<_> = first
            .intersection(&other)
            .filter(|u| **u != ReplicaId::SERVER.0)
            .collect();
        assert!(shared.is_empty(), "community {community} shares {shared:?}");
    }
}
