//! Green energy card (绿能卡): a volunteer's points, as an escrow / bounded counter whose balance can never go
//! negative, even when several devices redeem offline at the same time.
//!
//! The design follows Balegas et al., "Extending eventually consistent cloud databases for enforcing numeric
//! invariants" (SRDS 2015). The balance is split into *rights* held by replicas; a replica may only spend (redeem,
//! or hand rights to another replica) within the rights it holds, so the sum of all rights, which is always the
//! balance, can never drop below zero whatever the interleaving.
//!
//! - `card.credit`: approved volunteer hours add points. Credits are keyed by the log entry, so two concurrent
//!   approvals of the same entry credit it once. Their rights go to the pool, [`ReplicaId::SERVER`].
//! - `card.transfer`: the holder hands rights to another replica. The server grants an allowance to the property
//!   office's device this way, and a device returns unused rights to the server the same way.
//! - `card.redeem`: the holder spends points (a property-fee offset, or goods), within its rights.
//!
//! Every spend (transfer or redeem) carries its issuer's sequence number for this card, 1, 2, 3, … A spend only
//! takes effect once all earlier spends of its issuer have, and once the issuer's rights cover it. Rights only ever
//! grow through other replicas' ops, so this rule picks the same *effective* spends whatever order ops arrive in,
//! and a replica that receives a redemption before the credit that paid for it shows it as pending instead of
//! showing a negative balance. The server validates every spend against its own view before storing it, so once
//! all ops are delivered every stored spend is effective.
//!
//! Every point is traceable: [`Card::movements`] lists each credit (with its entry and approval op) and each
//! effective redemption; they sum to [`Card::balance`].
//!
//! Why not `crdts::PNCounter`: it has no notion of rights, so it cannot refuse an overdraft, and its op-based form
//! needs causal delivery. A bounded counter is ours to write.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use crate::hlc::Stamp;
use crate::ids::{EntryId, HouseholdId, OpId, ReplicaId, UserId};

/// A number of green-energy-card points.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Points(pub u64);

impl fmt::Debug for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}pt", self.0)
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How approved hours turn into points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardPolicy {
    /// Points credited for one approved hour, pro rata per whole minute, rounded down.
    pub points_per_hour: u64,
}

impl CardPolicy {
    /// Ten points an hour.
    pub const DEFAULT: CardPolicy = CardPolicy {
        points_per_hour: 10,
    };

    /// Points for `minutes` of approved service.
    pub fn points_for(&self, minutes: u32) -> Points {
        Points(u64::from(minutes) * self.points_per_hour / 60)
    }
}

impl Default for CardPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What a redemption paid for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Purpose {
    /// 志愿服务抵扣物业费: offsets a household's property fee for a period.
    FeeOffset {
        /// The household whose fee is offset.
        household: HouseholdId,
        /// The fee period, `YYYY-MM` or `YYYY`.
        period: String,
    },
    /// Goods from the cooperative's shop.
    Goods {
        /// What.
        item: String,
    },
}

/// Every op on a card (keyed by the volunteer's user id). The wire kind is `card.<snake_case variant>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", content = "b", rename_all = "snake_case")]
pub enum CardOp {
    /// Credit approved hours.
    Credit {
        /// The approved activity.
        entry: EntryId,
        /// The approval op that justifies the credit.
        approval: OpId,
        /// Approved minutes.
        minutes: u32,
        /// Points, `CardPolicy::points_for(minutes)`.
        points: Points,
    },
    /// Hand spending rights to another replica.
    Transfer {
        /// The receiving replica.
        to: ReplicaId,
        /// How many.
        points: Points,
        /// The issuer's spend sequence number on this card.
        seq: u64,
    },
    /// Spend points.
    Redeem {
        /// How many.
        points: Points,
        /// The issuer's spend sequence number on this card.
        seq: u64,
        /// What for.
        purpose: Purpose,
    },
}

/// A credit as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// The credit op.
    pub stamp: Stamp,
    /// The approval op.
    pub approval: OpId,
    /// Minutes.
    pub minutes: u32,
    /// Points.
    pub points: Points,
}

/// What a spend does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SpendKind {
    /// Rights handed to `to`.
    Transfer {
        /// Receiver.
        to: ReplicaId,
    },
    /// Points redeemed.
    Redeem {
        /// What for.
        purpose: Purpose,
    },
}

/// A spend as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    /// The op.
    pub stamp: Stamp,
    /// The user who issued it.
    pub by: UserId,
    /// Amount.
    pub points: Points,
    /// Transfer or redemption.
    pub kind: SpendKind,
}

/// One line of a card statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Movement {
    /// Points earned.
    Credit {
        /// The entry.
        entry: EntryId,
        /// The credit.
        credit: Credit,
    },
    /// Points spent.
    Redeem {
        /// The issuing replica.
        replica: ReplicaId,
        /// The spend.
        spend: Spend,
    },
}

/// The replicated state of one card.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "CardData", into = "CardData")]
pub struct Card {
    data: CardData,
    /// Derived: how many spends of each issuer are effective (always a prefix 1..=n of its sequence).
    effective: BTreeMap<ReplicaId, u64>,
    /// Derived: rights received by each replica from effective transfers (and, for the pool, credits).
    received: BTreeMap<ReplicaId, u64>,
    /// Derived: rights spent by each replica in effective spends.
    spent: BTreeMap<ReplicaId, u64>,
}

/// The ops-derived content of a card; everything else is computed from it.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CardData {
    /// Credits by entry (one per entry; the smaller stamp wins if two differ).
    pub credits: BTreeMap<EntryId, Credit>,
    /// Spends by (issuer, seq) (one per key; the smaller stamp wins if two differ).
    #[serde(with = "crate::pairs")]
    pub spends: BTreeMap<(ReplicaId, u64), Spend>,
}

impl From<CardData> for Card {
    fn from(data: CardData) -> Self {
        let mut card = Card {
            data,
            ..Card::default()
        };
        card.recompute();
        card
    }
}

impl From<Card> for CardData {
    fn from(card: Card) -> Self {
        card.data
    }
}

impl Card {
    /// Applies one op issued by `replica`. Never fails.
    pub fn apply(&mut self, stamp: Stamp, replica: ReplicaId, by: UserId, op: &CardOp) {
        match op {
            CardOp::Credit {
                entry,
                approval,
                minutes,
                points,
            } => {
                let credit = Credit {
                    stamp,
                    approval: *approval,
                    minutes: *minutes,
                    points: *points,
                };
                match self.data.credits.get(entry) {
                    None => {
                        *self.received.entry(ReplicaId::SERVER).or_default() += points.0;
                        self.data.credits.insert(*entry, credit);
                    }
                    Some(old) if stamp < old.stamp => {
                        self.data.credits.insert(*entry, credit);
                        self.recompute();
                    }
                    Some(_) => {}
                }
            }
            CardOp::Transfer { to, points, seq } => self.add_spend(
                (replica, *seq),
                Spend {
                    stamp,
                    by,
                    points: *points,
                    kind: SpendKind::Transfer { to: *to },
                },
            ),
            CardOp::Redeem {
                points,
                seq,
                purpose,
            } => self.add_spend(
                (replica, *seq),
                Spend {
                    stamp,
                    by,
                    points: *points,
                    kind: SpendKind::Redeem {
                        purpose: purpose.clone(),
                    },
                },
            ),
        }
        self.advance();
    }

    fn add_spend(&mut self, key: (ReplicaId, u64), spend: Spend) {
        match self.data.spends.get(&key) {
            None => {
                self.data.spends.insert(key, spend);
            }
            Some(old) if spend.stamp < old.stamp => {
                self.data.spends.insert(key, spend);
                self.recompute();
            }
            Some(_) => {}
        }
    }

    /// State-based merge.
    pub fn merge(&mut self, other: Card) {
        for (entry, credit) in other.data.credits {
            match self.data.credits.get(&entry) {
                Some(old) if old.stamp <= credit.stamp => {}
                _ => {
                    self.data.credits.insert(entry, credit);
                }
            }
        }
        for (key, spend) in other.data.spends {
            match self.data.spends.get(&key) {
                Some(old) if old.stamp <= spend.stamp => {}
                _ => {
                    self.data.spends.insert(key, spend);
                }
            }
        }
        self.recompute();
    }

    /// Rebuilds the derived maps from the data.
    fn recompute(&mut self) {
        self.effective.clear();
        self.spent.clear();
        self.received.clear();
        let credited: u64 = self.data.credits.values().map(|c| c.points.0).sum();
        if credited > 0 {
            self.received.insert(ReplicaId::SERVER, credited);
        }
        self.advance();
    }

    /// Makes effective every spend whose issuer's earlier spends are effective and whose rights cover it, until
    /// nothing changes. Monotone: rights only grow through other issuers' effective ops, so the result does not
    /// depend on the order ops arrived in.
    fn advance(&mut self) {
        loop {
            let mut progressed = false;
            let mut cursor: Option<ReplicaId> = None;
            // Walk the issuers present in `spends` (the map is ordered by (issuer, seq)).
            while let Some((&(issuer, _), _)) = match cursor {
                None => self.data.spends.iter().next(),
                Some(prev) => self
                    .data
                    .spends
                    .range((prev, u64::MAX)..)
                    .find(|((r, _), _)| *r != prev),
            } {
                cursor = Some(issuer);
                loop {
                    let next = self.effective.get(&issuer).copied().unwrap_or(0) + 1;
                    let Some(spend) = self.data.spends.get(&(issuer, next)) else {
                        break;
                    };
                    if self.rights(issuer) < spend.points {
                        break;
                    }
                    let points = spend.points.0;
                    if let SpendKind::Transfer { to } = spend.kind {
                        *self.received.entry(to).or_default() += points;
                    }
                    *self.spent.entry(issuer).or_default() += points;
                    self.effective.insert(issuer, next);
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// The spending rights `replica` holds now.
    pub fn rights(&self, replica: ReplicaId) -> Points {
        let received = self.received.get(&replica).copied().unwrap_or(0);
        let spent = self.spent.get(&replica).copied().unwrap_or(0);
        // `advance` only lets a spend through when rights cover it, so spent <= received always holds.
        Points(received.saturating_sub(spent))
    }

    /// Rights held by every replica that holds any.
    pub fn all_rights(&self) -> BTreeMap<ReplicaId, Points> {
        self.received
            .keys()
            .map(|r| (*r, self.rights(*r)))
            .filter(|(_, p)| p.0 > 0)
            .collect()
    }

    /// Total points credited.
    pub fn credited(&self) -> Points {
        Points(self.data.credits.values().map(|c| c.points.0).sum())
    }

    /// Total points redeemed by effective redemptions.
    pub fn redeemed(&self) -> Points {
        Points(self.effective_spends().filter_map(redeemed_points).sum())
    }

    /// The balance: credited minus redeemed. Never negative, by construction.
    pub fn balance(&self) -> Points {
        Points(self.credited().0 - self.redeemed().0)
    }

    /// The next spend sequence number for `replica` (what its next transfer or redeem must carry).
    pub fn next_seq(&self, replica: ReplicaId) -> u64 {
        self.data
            .spends
            .range((replica, 0)..=(replica, u64::MAX))
            .next_back()
            .map_or(1, |((_, seq), _)| seq + 1)
    }

    /// How many spends of `replica` are effective.
    pub fn effective_count(&self, replica: ReplicaId) -> u64 {
        self.effective.get(&replica).copied().unwrap_or(0)
    }

    /// Spends that have arrived but are not effective yet (their cause has not arrived).
    pub fn pending(&self) -> impl Iterator<Item = (&(ReplicaId, u64), &Spend)> {
        self.data
            .spends
            .iter()
            .filter(|((r, seq), _)| *seq > self.effective_count(*r))
    }

    fn effective_spends(&self) -> impl Iterator<Item = (&(ReplicaId, u64), &Spend)> {
        self.data
            .spends
            .iter()
            .filter(|((r, seq), _)| *seq <= self.effective_count(*r))
    }

    /// The credit recorded for `entry`.
    pub fn credit_of(&self, entry: &EntryId) -> Option<&Credit> {
        self.data.credits.get(entry)
    }

    /// The spend recorded at `(replica, seq)`.
    pub fn spend(&self, replica: ReplicaId, seq: u64) -> Option<&Spend> {
        self.data.spends.get(&(replica, seq))
    }

    /// Every balance movement: credits and effective redemptions, in stamp order. They sum to the balance.
    pub fn movements(&self) -> Vec<Movement> {
        let mut out: Vec<Movement> = self
            .data
            .credits
            .iter()
            .map(|(entry, credit)| Movement::Credit {
                entry: *entry,
                credit: credit.clone(),
            })
            .chain(
                self.effective_spends()
                    .filter(|(_, s)| matches!(s.kind, SpendKind::Redeem { .. }))
                    .map(|((replica, _), spend)| Movement::Redeem {
                        replica: *replica,
                        spend: spend.clone(),
                    }),
            )
            .collect();
        out.sort_by_key(|m| match m {
            Movement::Credit { credit, .. } => credit.stamp,
            Movement::Redeem { spend, .. } => spend.stamp,
        });
        out
    }

    /// The raw data (credits and spends).
    pub fn data(&self) -> &CardData {
        &self.data
    }
}

fn redeemed_points((_, spend): (&(ReplicaId, u64), &Spend)) -> Option<u64> {
    match spend.kind {
        SpendKind::Redeem { .. } => Some(spend.points.0),
        SpendKind::Transfer { .. } => None,
    }
}
