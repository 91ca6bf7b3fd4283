//! Merge laws, for every entity at once: random valid histories of a simulated community, delivered to 2–5
//! replicas in random order with duplicates and drops repaired later, always converge; state merge is
//! commutative, associative and idempotent; a snapshot survives JSON.

use linli_sync_core::prelude::*;
use linli_sync_core::test_support::offline::{OfflineDay, offline_day};
use linli_sync_core::test_support::{History, delivery, history};
use proptest::prelude::*;

fn replay<'a>(ops: impl IntoIterator<Item = &'a Op>) -> State {
    let mut s = State::new(Rules::DEFAULT);
    for op in ops {
        s.apply(op);
    }
    s
}

fn history_and_deliveries() -> impl Strategy<Value = (History, Vec<Vec<usize>>)> {
    (2usize..=5, 2usize..=5)
        .prop_flat_map(|(writers, receivers)| (history(writers, 60), Just(receivers)))
        .prop_flat_map(|(h, receivers)| {
            let n = h.ops.len();
            (Just(h), prop::collection::vec(delivery(n), receivers))
        })
}

/// The server's log of an offline day (removals of households and members, and re-adds, stamped out of order by
/// skewed clocks), with delivery orders: the remove stamps the add-wins sets keep must converge too.
fn removals_and_deliveries() -> impl Strategy<Value = (OfflineDay, Vec<Vec<usize>>)> {
    offline_day(60).prop_flat_map(|day| {
        let n = day.log.len();
        (Just(day), prop::collection::vec(delivery(n), 3))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// With removals: any order and duplication of delivery gives the same state (remove stamps included), state
    /// merge of any split equals the replay, and the state survives JSON.
    #[test]
    fn removal_stamps_converge_whatever_the_delivery(
        (day, deliveries) in removals_and_deliveries(),
        split in prop::collection::vec(0u8..3, 0..300),
    ) {
        let reference = replay(&day.log);
        for order in &deliveries {
            prop_assert_eq!(&replay(order.iter().map(|&i| &day.log[i])), &reference);
        }
        let part = |k: u8| -> State {
            replay(day.log.iter().enumerate().filter(|(i, _)| split.get(*i).copied().unwrap_or(0) == k).map(|(_, op)| op))
        };
        let (a, b, c) = (part(0), part(1), part(2));
        let merged = |x: &State, y: &State| { let mut m = x.clone(); m.merge(y.clone()); m };
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
        prop_assert_eq!(merged(&a, &a), a.clone());
        prop_assert_eq!(merged(&merged(&a, &b), &c), reference.clone());
        let back: State = serde_json::from_str(&serde_json::to_string(&reference).expect("serialise")).expect("read");
        prop_assert_eq!(back, reference);
    }

    /// Any order, any duplication, drops repaired later: every receiver equals the reference replay.
    #[test]
    fn replicas_converge_whatever_the_delivery((h, deliveries) in history_and_deliveries()) {
        let reference = replay(&h.ops);
        for order in &deliveries {
            let got = replay(order.iter().map(|&i| &h.ops[i]));
            prop_assert_eq!(&got, &reference);
        }
    }

    /// Applying an op again changes nothing.
    #[test]
    fn apply_is_idempotent(h in history(5, 60)) {
        let once = replay(&h.ops);
        let mut twice = once.clone();
        for op in &h.ops {
            twice.apply(op);
        }
        prop_assert_eq!(twice, once);
    }

    /// State merge: commutative, associative, idempotent, and equal to replaying the union of the ops.
    #[test]
    fn state_merge_laws(
        h in history(5, 60),
        split in prop::collection::vec(0u8..3, 0..200),
    ) {
        let part = |k: u8| -> State {
            replay(h.ops.iter().enumerate().filter(|(i, _)| split.get(*i).copied().unwrap_or(0) == k).map(|(_, op)| op))
        };
        let (a, b, c) = (part(0), part(1), part(2));
        let merged = |x: &State, y: &State| { let mut m = x.clone(); m.merge(y.clone()); m };
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
        prop_assert_eq!(merged(&a, &a), a.clone());
        prop_assert_eq!(merged(&merged(&a, &b), &c), replay(&h.ops));
    }

    /// A snapshot (the state as JSON) reads back equal.
    #[test]
    fn state_survives_json(h in history(5, 40)) {
        let s = replay(&h.ops);
        let json = serde_json::to_string(&s).expect("serialise");
        let back: State = serde_json::from_str(&json).expect("deserialise");
        prop_assert_eq!(back, s);
    }

    /// Every op of every history survives the wire byte for byte.
    #[test]
    fn ops_round_trip_the_wire(h in history(5, 40)) {
        for op in &h.ops {
            let text = op.to_json();
            let back = Op::from_json(&text).expect("parses");
            prop_assert_eq!(&back, op);
            prop_assert_eq!(back.to_json(), text);
        }
    }
}
