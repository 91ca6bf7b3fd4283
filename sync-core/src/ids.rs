//! Typed identifiers: every id in Linli is a UUID, wrapped so that a ticket id can never be passed where a grid id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// A fresh random (v4) id, for things that carry no time.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// A fresh time-ordered (v7) id whose timestamp is `wall_ms`.
            pub fn new_v7(wall_ms: u64) -> Self {
                Self(v7_at(wall_ms))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// One replica: a phone's local database, or the server. Stable for the life of the replica file.
    ReplicaId
);
uuid_id!(
    /// An operation. Generated as UUID v7 so ids sort roughly by creation time.
    OpId
);
uuid_id!(
    /// A person with an account: admin, grid worker or volunteer. A volunteer's green energy card is keyed by this id.
    UserId
);
uuid_id!(
    /// A ticket (接诉即办).
    TicketId
);
uuid_id!(
    /// A grid cell (网格).
    GridId
);
uuid_id!(
    /// A household (one flat) inside a grid cell.
    HouseholdId
);
uuid_id!(
    /// A volunteer log entry: a door-knock visit or a service activity.
    EntryId
);
uuid_id!(
    /// A linked body (联动单位): law enforcement, the police station, a utility, a firm… that tickets are dispatched to.
    AgencyId
);
uuid_id!(
    /// A decision of a residents' council (居民议事会) or the deliberation clinic (议事门诊).
    DecisionId
);
uuid_id!(
    /// A routing rule: which handler a ticket category (optionally in one grid cell) goes to by default.
    RouteId
);

impl ReplicaId {
    /// The server's replica. Every server process acts as this one logical replica; it is the pool that
    /// green-energy-card credits accrue to and from which spending rights are granted to devices.
    pub const SERVER: ReplicaId = ReplicaId(Uuid::nil());
}

fn v7_at(wall_ms: u64) -> Uuid {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        wall_ms / 1000,
        // Always < 1e9, so the cast cannot truncate.
        ((wall_ms % 1000) * 1_000_000) as u32,
    );
    Uuid::new_v7(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_ids_carry_the_given_time_and_are_version_7() {
        let id = OpId::new_v7(1_764_288_000_123);
        assert_eq!(id.0.get_version_num(), 7);
        let (secs, nanos) = id.0.get_timestamp().expect("v7 has a timestamp").to_unix();
        assert_eq!(
            secs * 1000 + u64::from(nanos) / 1_000_000,
            1_764_288_000_123
        );
    }

    #[test]
    fn ids_print_and_parse_as_plain_uuids() {
        let id = TicketId::random();
        let parsed: TicketId = id.to_string().parse().expect("parses");
        assert_eq!(parsed, id);
        assert_eq!(
            serde_json::to_string(&id).expect("json"),
            format!("\"{id}\"")
        );
    }
}
