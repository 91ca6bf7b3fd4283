//! The independent model: what the script did, counted by the test itself (visits, approved minutes, points
//! credited and redeemed, the status each ticket must end in), and the checks that the merged state, every
//! replica and the server's op log agree with it and with each other.

use linli_sync_core::entry::{EntryStatus, Record};
use linli_sync_core::prelude::{Role, State, Status, TicketId, UserId, Viewer};
use std::collections::{BTreeMap, BTreeSet};

use crate::world::World;

/// Points per hour of approved service (the default card policy, restated here on purpose).
pub const POINTS_PER_HOUR: u64 = 10;

/// What the script did.
#[derive(Debug, Default, Clone)]
pub struct Model {
    /// Door-knock visits per volunteer.
    pub visits: BTreeMap<UserId, u64>,
    /// Approved minutes per volunteer.
    pub approved_minutes: BTreeMap<UserId, u64>,
    /// Points credited per volunteer.
    pub credited: BTreeMap<UserId, u64>,
    /// Points redeemed per volunteer.
    pub redeemed: BTreeMap<UserId, u64>,
    /// The status each ticket must end in.
    pub tickets: BTreeMap<TicketId, Status>,
    /// Activities logged but never decided.
    pub pending: u64,
}

impl Model {
    /// A visit by `volunteer`.
    pub fn visit(&mut self, volunteer: UserId) {
        *self.visits.entry(volunteer).or_default() += 1;
    }

    /// An approval of `minutes` for `volunteer` (credited at [`POINTS_PER_HOUR`], rounded down).
    pub fn approve(&mut self, volunteer: UserId, minutes: u64) {
        *self.approved_minutes.entry(volunteer).or_default() += minutes;
        *self.credited.entry(volunteer).or_default() += minutes * POINTS_PER_HOUR / 60;
    }

    /// A redemption.
    pub fn redeem(&mut self, volunteer: UserId, points: u64) {
        *self.redeemed.entry(volunteer).or_default() += points;
    }

    /// Expected balance.
    pub fn balance(&self, volunteer: &UserId) -> u64 {
        self.credited.get(volunteer).copied().unwrap_or(0)
            - self.redeemed.get(volunteer).copied().unwrap_or(0)
    }
}

/// The figures a state shows, in a form that prints well when two differ.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Figures {
    /// Visits per volunteer (void ones excluded).
    pub visits: BTreeMap<UserId, u64>,
    /// Approved minutes per volunteer.
    pub approved_minutes: BTreeMap<UserId, u64>,
    /// `(credited, redeemed, balance)` per card.
    pub cards: BTreeMap<UserId, (u64, u64, u64)>,
    /// Status and number of lifecycle events per ticket.
    pub tickets: BTreeMap<TicketId, (Status, usize)>,
    /// Activities still pending.
    pub pending: u64,
    /// Households per grid cell.
    pub households: BTreeMap<String, usize>,
}

/// Reads the figures off a state.
pub fn figures(state: &State) -> Figures {
    let mut f = Figures::default();
    for entry in state.entries().values() {
        let Some((_, record)) = &entry.record else {
            continue;
        };
        match (record, entry.status()) {
            (Record::Visit(v), EntryStatus::Recorded) => {
                *f.visits.entry(v.volunteer).or_default() += 1;
            }
            (Record::Activity(a), EntryStatus::Approved) => {
                *f.approved_minutes.entry(a.volunteer).or_default() +=
                    u64::from(entry.approved_minutes());
            }
            (Record::Activity(_), EntryStatus::Pending) => f.pending += 1,
            _ => {}
        }
    }
    for (user, card) in state.cards() {
        f.cards.insert(
            *user,
            (card.credited().0, card.redeemed().0, card.balance().0),
        );
    }
    for (id, ticket) in state.tickets() {
        f.tickets
            .insert(*id, (ticket.status(), ticket.timeline().count()));
    }
    for (id, grid) in state.grids() {
        f.households
            .insert(id.to_string(), grid.households.iter().count());
    }
    f
}

/// The server's merged state, via an admin snapshot.
pub fn server_state(world: &World) -> State {
    world.console.snapshot().state
}

/// Every phone (except those in `skip`) holds exactly its scope of the server's merged state.
pub fn assert_converged(world: &World, skip: &[usize]) {
    let server = server_state(world);
    for (i, phone) in world.phones.iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        let viewer = Viewer {
            user: phone.id.user,
            role: phone.id.role,
        };
        let expected = viewer.scope(&server);
        let mut got = figures(phone.state());
        let want = figures(&expected);
        // A grid worker's replica also keeps the partial card its own `card.credit` ops built (it wrote them), a
        // card outside its scope that the server never sends it; only cards in scope are compared (see
        // docs/field-day.md, "findings").
        got.cards
            .retain(|user, _| want.cards.contains_key(user) || phone.id.role == Role::Admin);
        assert_eq!(
            got, want,
            "{}'s replica differs from its scope of the server's state",
            phone.label
        );
        if phone.id.role == Role::Admin {
            assert!(
                phone.state() == &expected,
                "{}'s replica state is not the server's state",
                phone.label
            );
        }
    }
}

/// The server's merged state shows what the model says.
pub fn assert_model(world: &World, model: &Model) {
    let state = server_state(world);
    let f = figures(&state);
    let nonzero = |m: &BTreeMap<UserId, u64>| -> BTreeMap<UserId, u64> {
        m.iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| (*k, *v))
            .collect()
    };
    assert_eq!(nonzero(&f.visits), nonzero(&model.visits), "visits");
    assert_eq!(
        nonzero(&f.approved_minutes),
        nonzero(&model.approved_minutes),
        "approved minutes"
    );
    let users: BTreeSet<UserId> = model
        .credited
        .keys()
        .chain(model.redeemed.keys())
        .copied()
        .collect();
    for user in users {
        let (credited, redeemed, balance) = f.cards.get(&user).copied().unwrap_or_default();
        assert_eq!(
            (credited, redeemed, balance),
            (
                model.credited.get(&user).copied().unwrap_or(0),
                model.redeemed.get(&user).copied().unwrap_or(0),
                model.balance(&user)
            ),
            "card of {user}: (credited, redeemed, balance)"
        );
    }
    for (ticket, status) in &model.tickets {
        let got = f.tickets.get(ticket).map(|t| t.0);
        assert_eq!(got, Some(*status), "ticket {ticket}");
    }
    assert_eq!(f.pending, model.pending, "activities pending");
}

/// Every op a phone wrote is acknowledged, and stored exactly once in the server's op log; the op log holds no
/// id twice.
pub fn assert_no_loss(world: &World, skip: &[usize]) {
    let conn = rusqlite::Connection::open_with_flags(
        world.server.db_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the server database read-only");
    let mut stmt = conn
        // The op log keys ops by their id's 16 bytes (the lean op log, ADR 0007).
        .prepare("SELECT count(*) FROM op_log WHERE op_id = unhex(replace(?1, '-', ''))")
        .expect("query");
    for (i, phone) in world.phones.iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        for (id, acked) in phone.local_ops() {
            assert!(acked, "{}: op {id} was never acknowledged", phone.label);
            let n: i64 = stmt.query_row([&id], |r| r.get(0)).expect("count");
            assert_eq!(n, 1, "{}: op {id} is stored {n} times", phone.label);
        }
    }
    let (all, distinct): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT op_id) FROM op_log",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("count");
    assert_eq!(all, distinct, "an op id is stored twice");
}

/// All three checks after every phone has synced twice.
pub fn assert_all(world: &mut World, model: &Model) {
    world.settle();
    assert_no_loss(world, &[]);
    assert_converged(world, &[]);
    assert_model(world, model);
}

/// [`assert_all`] for worlds where some phones lost or set aside ops on purpose: convergence and the model, and
/// no duplicate in the server's op log.
pub fn settle_and_check(world: &mut World, model: &Model) {
    world.settle();
    let skip: Vec<usize> = (0..world.phones.len()).collect();
    assert_no_loss(world, &skip);
    assert_converged(world, &[]);
    assert_model(world, model);
}
