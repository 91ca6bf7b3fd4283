//! The green energy card's invariants under any interleaving: the balance is never negative at any replica at
//! any moment, rights always sum to the balance, movements sum to the balance, and once every op is delivered no
//! redemption that was within its device's rights is left unapplied.

use linli_sync_core::card::Movement;
use linli_sync_core::prelude::*;
use linli_sync_core::test_support::{delivery, history};
use proptest::prelude::*;

fn check_card(card: &Card) -> Result<(), TestCaseError> {
    let credited = card.credited().0;
    let redeemed = card.redeemed().0;
    prop_assert!(
        redeemed <= credited,
        "balance negative: {credited} - {redeemed}"
    );
    let rights: u64 = card.all_rights().values().map(|p| p.0).sum();
    prop_assert_eq!(rights, card.balance().0, "rights must sum to the balance");
    let sum: i128 = card
        .movements()
        .iter()
        .map(|m| match m {
            Movement::Credit { credit, .. } => i128::from(credit.points.0),
            Movement::Redeem { spend, .. } => -i128::from(spend.points.0),
        })
        .sum();
    prop_assert_eq!(
        sum,
        i128::from(card.balance().0),
        "movements must sum to the balance"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn balance_never_negative_in_any_interleaving(
        (h, order) in history(5, 80).prop_flat_map(|h| { let n = h.ops.len(); (Just(h), delivery(n)) })
    ) {
        let mut s = State::new(Rules::DEFAULT);
        for &i in &order {
            s.apply(&h.ops[i]);
            for card in s.cards().values() {
                check_card(card)?;
            }
        }
        // Everything delivered: every spend that its issuer validated is effective.
        for card in s.cards().values() {
            prop_assert_eq!(card.pending().count(), 0);
        }
    }
}
