//! The property office's fee ledger: dues imported from its CSV files (`linli fees import`), and the cash payments
//! it records (`POST /v1/fees/payments`). Green-energy-card offsets are card redemptions in the op log; the fee
//! report joins them in. Each row belongs to one community, and a due is keyed by its community, household and
//! period: one community's import never rewrites another's due (review of issue 11, D3). Written in diesel's DSL only.

use diesel::prelude::*;
use diesel::upsert::excluded;
use linli_reports::fees::{CashPayment, FeeDue, Ledger};
use linli_sync_core::ids::{HouseholdId, UserId};
use uuid::Uuid;

use crate::community::CommunityId;
use crate::db::Conn;
use crate::db::schema::{fee_dues, fee_payments};
use crate::store::StoreError;

/// Stores `dues` in one transaction: a household and period already present gets the new amount. Returns how
/// many rows were written.
pub fn import_dues(
    conn: &mut Conn,
    community: CommunityId,
    dues: &[FeeDue],
    now_ms: i64,
) -> Result<usize, StoreError> {
    crate::db::sqlite::write_txn(conn, |conn| -> Result<usize, StoreError> {
        let mut written = 0;
        for chunk in dues.chunks(500) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|d| {
                    (
                        fee_dues::household.eq(d.household.to_string()),
                        fee_dues::period.eq(d.period.clone()),
                        fee_dues::amount_fen.eq(fen(d.amount_fen)),
                        fee_dues::imported_ms.eq(now_ms),
                        fee_dues::community_id.eq(community.0),
                    )
                })
                .collect();
            written += diesel::insert_into(fee_dues::table)
                .values(&rows)
                .on_conflict((
                    fee_dues::community_id,
                    fee_dues::household,
                    fee_dues::period,
                ))
                .do_update()
                .set((
                    fee_dues::amount_fen.eq(excluded(fee_dues::amount_fen)),
                    fee_dues::imported_ms.eq(excluded(fee_dues::imported_ms)),
                ))
                .execute(conn)?;
            let households: Vec<String> = chunk.iter().map(|d| d.household.to_string()).collect();
            crate::tenancy::claim_households(conn, community, &households)?;
        }
        Ok(written)
    })
}

/// Records a cash payment; returns its id.
pub fn record_payment(
    conn: &mut Conn,
    community: CommunityId,
    payment: &CashPayment,
    by: UserId,
    now_ms: i64,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    diesel::insert_into(fee_payments::table)
        .values((
            fee_payments::id.eq(id.to_string()),
            fee_payments::household.eq(payment.household.to_string()),
            fee_payments::period.eq(payment.period.clone()),
            fee_payments::amount_fen.eq(fen(payment.amount_fen)),
            fee_payments::recorded_by.eq(by.to_string()),
            fee_payments::recorded_ms.eq(now_ms),
            fee_payments::community_id.eq(community.0),
        ))
        .execute(conn)?;
    Ok(id)
}

/// The ledger of one community.
pub fn load(conn: &mut Conn, community: CommunityId) -> Result<Ledger, StoreError> {
    let dues: Vec<(String, String, i64)> = fee_dues::table
        .filter(fee_dues::community_id.eq(community.0))
        .select((fee_dues::household, fee_dues::period, fee_dues::amount_fen))
        .load(conn)?;
    let payments: Vec<(String, String, i64)> = fee_payments::table
        .filter(fee_payments::community_id.eq(community.0))
        .select((
            fee_payments::household,
            fee_payments::period,
            fee_payments::amount_fen,
        ))
        .load(conn)?;
    let household = |s: &str| -> Result<HouseholdId, StoreError> {
        s.parse().map_err(|e: uuid::Error| {
            StoreError::Db(diesel::result::Error::DeserializationError(Box::new(e)))
        })
    };
    Ok(Ledger {
        dues: dues
            .into_iter()
            .map(|(h, period, amount)| {
                Ok(FeeDue {
                    household: household(&h)?,
                    period,
                    amount_fen: u64::try_from(amount).unwrap_or(0),
                })
            })
            .collect::<Result<_, StoreError>>()?,
        payments: payments
            .into_iter()
            .map(|(h, period, amount)| {
                Ok(CashPayment {
                    household: household(&h)?,
                    period,
                    amount_fen: u64::try_from(amount).unwrap_or(0),
                })
            })
            .collect::<Result<_, StoreError>>()?,
    })
}

fn fen(amount: u64) -> i64 {
    i64::try_from(amount).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review of issue 11 (D3): dues were keyed by household and period across all communities, so a second
    /// community's import of the same household and period rewrote the first community's amount (and left the row
    /// the first's). Each community keeps its own due now.
    #[test]
    fn one_communitys_import_never_rewrites_anothers_due() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = crate::db::temp_pool(&dir, 1);
        let mut conn = pool.get().expect("connection");
        let other =
            crate::community::create(&mut conn, "和平里社区", "城东街道", 0).expect("community");
        let household = HouseholdId(Uuid::now_v7());
        let due = |amount_fen| FeeDue {
            household,
            period: "2026-11".into(),
            amount_fen,
        };
        import_dues(&mut conn, CommunityId::FIRST, &[due(12_000)], 1).expect("first import");
        import_dues(&mut conn, other.id, &[due(9_000)], 2).expect("second import");
        let amounts = |conn: &mut Conn, c| -> Vec<u64> {
            load(conn, c)
                .expect("ledger")
                .dues
                .iter()
                .map(|d| d.amount_fen)
                .collect()
        };
        assert_eq!(amounts(&mut conn, CommunityId::FIRST), [12_000]);
        assert_eq!(amounts(&mut conn, other.id), [9_000]);
        // A re-import within a community still replaces its own amount.
        import_dues(&mut conn, other.id, &[due(9_500)], 3).expect("re-import");
        assert_eq!(amounts(&mut conn, other.id), [9_500]);
        assert_eq!(amounts(&mut conn, CommunityId::FIRST), [12_000]);
    }
}
