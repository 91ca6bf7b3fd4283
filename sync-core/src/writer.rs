//! Producing ops: a replica's identity and clock, which stamp every new op, and the few writes that produce
//! more than one op (a visit with a health flag raises its follow-up ticket in the same write; an approval
//! credits the card in the same write).
//!
//! A writer only *produces* ops; recording them is `State::validate_local` then `State::apply`, the same path
//! remote ops take.

use crate::card::CardOp;
use crate::entry::{EntryOp, Reason, Record, Visit};
use crate::error::OpError;
use crate::hlc::HlcClock;
use crate::ids::{EntryId, OpId, ReplicaId, TicketId, UserId};
use crate::op::{Op, OpBody, Unknown};
use crate::state::State;
use crate::ticket::{Channel, Location, Reporter, RequestType, TicketCreate, TicketOp};

/// A replica's identity and clock.
#[derive(Clone, Debug)]
pub struct Writer {
    /// This replica.
    pub replica: ReplicaId,
    /// The user signed in.
    pub author: UserId,
    /// This replica's clock.
    pub clock: HlcClock,
    /// Where op ids come from.
    ids: IdSource,
}

/// Where a writer's op ids come from.
#[derive(Clone, Debug)]
enum IdSource {
    /// UUID v7 with random bits: production.
    Random,
    /// UUID v7 whose "random" bits are a counter: reproducible tests and benchmarks.
    Counter(u64),
}

impl Writer {
    /// A writer for `author` on `replica`.
    pub fn new(replica: ReplicaId, author: UserId, clock: HlcClock) -> Self {
        Writer {
            replica,
            author,
            clock,
            ids: IdSource::Random,
        }
    }

    /// A writer whose op ids are reproducible: v7 ids whose random bits are `salt` and a counter. For tests and
    /// benchmarks only; `salt` must differ between writers.
    pub fn deterministic(replica: ReplicaId, author: UserId, clock: HlcClock, salt: u16) -> Self {
        Writer {
            replica,
            author,
            clock,
            ids: IdSource::Counter(u64::from(salt) << 48),
        }
    }

    fn next_id(&mut self, wall_ms: u64) -> OpId {
        match &mut self.ids {
            IdSource::Random => OpId::new_v7(wall_ms),
            IdSource::Counter(n) => {
                *n += 1;
                let mut bytes = [0u8; 10];
                bytes[2..].copy_from_slice(&n.to_be_bytes());
                OpId::from_uuid(
                    uuid::Builder::from_unix_timestamp_millis(wall_ms, &bytes).into_uuid(),
                )
            }
        }
    }

    /// A new op with a fresh id and the next clock time, given the physical time `now_ms`.
    pub fn op(&mut self, now_ms: u64, body: OpBody) -> Op {
        let time = self.clock.tick(now_ms);
        Op {
            id: self.next_id(time.wall_ms),
            replica: self.replica,
            author: self.author,
            time,
            body,
            unknown: Unknown::default(),
        }
    }

    /// Records a door-knock visit. A visit with a health flag also raises a follow-up ticket in the visit's grid
    /// cell, linked both ways; both ops are returned, to be recorded in one local transaction.
    pub fn visit(&mut self, now_ms: u64, entry: EntryId, mut visit: Visit) -> Vec<Op> {
        let mut ops = Vec::with_capacity(2);
        if let Some(flag) = visit.health {
            let ticket = visit
                .follow_up
                .unwrap_or_else(|| TicketId::from_uuid(*self.next_id(now_ms).as_uuid()));
            visit.follow_up = Some(ticket);
            ops.push(self.op(
                now_ms,
                OpBody::Ticket(
                    ticket,
                    TicketOp::Create(TicketCreate {
                        grid: visit.grid,
                        request_type: RequestType::Help,
                        category: format!("health_{}", flag_name(flag)),
                        complexity: Default::default(),
                        location: Location {
                            household: Some(visit.household),
                            ..Location::default()
                        },
                        description: if visit.notes.is_empty() {
                            format!("Door-knock visit flagged: {}", flag_name(flag))
                        } else {
                            visit.notes.clone()
                        },
                        channel: Channel::Visit,
                        reporter: Reporter {
                            household: Some(visit.household),
                            ..Reporter::default()
                        },
                        from_visit: Some(entry),
                    }),
                ),
            ));
        }
        ops.insert(
            0,
            self.op(now_ms, OpBody::Entry(entry, EntryOp::Visit(visit))),
        );
        ops
    }

    /// Approves an activity and credits the volunteer's card in the same write.
    pub fn approve(
        &mut self,
        state: &State,
        now_ms: u64,
        entry: EntryId,
        reason: Option<String>,
    ) -> Result<Vec<Op>, OpError> {
        let activity = match state.entry(&entry).and_then(|e| e.record.as_ref()) {
            Some((_, Record::Activity(activity))) => activity,
            Some((_, Record::Visit(_))) => {
                return Err(OpError::InvalidField {
                    field: "entry",
                    reason: "only service activities are approved; visits need no approval".into(),
                });
            }
            None => {
                return Err(OpError::UnknownEntity {
                    entity: "entry",
                    id: entry.to_string(),
                });
            }
        };
        let minutes = activity.minutes();
        let volunteer = activity.volunteer;
        let approve = self.op(
            now_ms,
            OpBody::Entry(entry, EntryOp::Approve(Reason { reason })),
        );
        let credit = self.op(
            now_ms,
            OpBody::Card(
                volunteer,
                CardOp::Credit {
                    entry,
                    approval: approve.id,
                    minutes,
                    points: state.rules().card.points_for(minutes),
                },
            ),
        );
        Ok(vec![approve, credit])
    }
}

fn flag_name(flag: crate::entry::HealthFlag) -> &'static str {
    use crate::entry::HealthFlag as H;
    match flag {
        H::Unwell => "unwell",
        H::Fall => "fall",
        H::Emergency => "emergency",
        H::Other => "other",
    }
}
