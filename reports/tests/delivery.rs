//! The linked bodies', councils' and red/black list reports are functions of the merged state alone: a random valid
//! history of a community (dispatches, reassignments, acceptances and completions written offline on several
//! replicas, council decisions) delivered in any order, with duplicates and retried drops, gives the same reports as
//! the history applied in the order it was written.

use linli_reports::agencies::agencies;
use linli_reports::councils::councils;
use linli_reports::ranking::ranking;
use linli_reports::{Basis, Filter, ReportPolicy};
use linli_sync_core::prelude::*;
use linli_sync_core::test_support::{Action, History, delivery};
use linli_sync_core::ticket::EventKind;
use proptest::prelude::*;

/// The simulator's actions, weighted towards what these reports read: ticket creates (choice 0), agency and
/// decision records (16) and dispatch steps (18: dispatch, accept, complete, decide), with syncs often enough that
/// replicas see each other's tickets, and up to two hours between actions so that SLAs are met and missed.
fn action() -> impl Strategy<Value = Action> {
    (
        any::<u8>(),
        prop::bool::weighted(0.5),
        prop_oneof![2 => Just(0u8), 2 => Just(16u8), 5 => Just(18u8), 1 => 0u8..19],
        any::<u8>(),
        any::<u8>(),
        0u16..7200,
    )
        .prop_map(|(replica, sync, choice, a, b, advance_s)| Action {
            replica,
            sync,
            choice,
            a,
            b,
            advance_s,
        })
}

fn history_and_delivery() -> impl Strategy<Value = (History, Vec<usize>)> {
    (2usize..=5, prop::collection::vec(action(), 10..100))
        .prop_map(|(writers, actions)| History::simulate(writers, &actions))
        .prop_flat_map(|h| {
            let n = h.ops.len();
            (Just(h), delivery(n))
        })
}

fn replay<'o>(ops: impl Iterator<Item = &'o Op>) -> State {
    let mut state = State::new(Rules::DEFAULT);
    for op in ops {
        state.apply(op);
    }
    state
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn agency_and_council_reports_do_not_depend_on_delivery((h, order) in history_and_delivery()) {
        let written = replay(h.ops.iter());
        let delivered = replay(order.iter().map(|&i| &h.ops[i]));
        // Everything, judged a day after the last op (so some clocks are overdue, some met).
        let last = h.ops.iter().map(|o| o.stamp().time.wall_ms).max().unwrap_or(0);
        let filter = Filter::between(0, u64::MAX);
        let policy = ReportPolicy {
            agency_accept_ms: 10 * 60_000,
            agency_complete_ms: 60 * 60_000,
            ranking_min_volume: 1,
            ..ReportPolicy::DEFAULT
        };
        let basis = || Basis::new(0, last + 86_400_000);
        let a = agencies(&written, &filter, &policy, basis());
        prop_assert_eq!(&a, &agencies(&delivered, &filter, &policy, basis()));
        // A dispatch is counted once per dispatch event, whatever the duplicates.
        let dispatches = written
            .tickets()
            .values()
            .flat_map(|t| t.timeline())
            .filter(|(_, e)| e.kind == EventKind::Dispatched)
            .count();
        prop_assert_eq!(a.agencies.iter().map(|r| r.dispatched).sum::<usize>(), dispatches);
        prop_assert_eq!(
            councils(&written, &filter, &policy, basis()),
            councils(&delivered, &filter, &policy, basis())
        );
        prop_assert_eq!(
            ranking(&written, &filter, &policy, basis()),
            ranking(&delivered, &filter, &policy, basis())
        );
    }
}
