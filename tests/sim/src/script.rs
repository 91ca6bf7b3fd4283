//! The actions of a field day, each done through a phone's replica and counted in the [`Model`] at the same time:
//! door-knock visits, volunteer hours and their approval, tickets under 5-20-2-2, card redemptions.

use linli_ffi::store::TicketStep;
use linli_ffi::{
    ActivityInput, Channel, Complexity, HealthFlag, Need, RedeemPurpose, RequestType, TicketInput,
    VisitInput,
};
use linli_sync_core::prelude::{Status, TicketId};

use crate::model::Model;
use crate::world::World;

/// A door-knock visit by the butler on `phone` to `household` of cell `cell`; with `unwell`, the follow-up
/// ticket the phone raises is returned (it stays open).
pub fn visit(
    world: &mut World,
    model: &mut Model,
    phone: usize,
    cell: usize,
    household: usize,
    unwell: bool,
) -> Option<TicketId> {
    let grid = world.cells[cell].id.to_string();
    let (hh, _) = world.cells[cell].households[household];
    let p = &mut world.phones[phone];
    let now = p.now();
    let recorded = p
        .store
        .record_visit(
            now,
            &VisitInput {
                grid_id: grid,
                household_id: hh.to_string(),
                seen: true,
                health: unwell.then_some(HealthFlag::Unwell),
                needs: if unwell { vec![Need::Medicine] } else { vec![] },
                notes: if unwell {
                    "头晕".into()
                } else {
                    "一切安好".into()
                },
            },
        )
        .unwrap_or_else(|e| panic!("{} visit: {e}", p.label));
    model.visit(p.id.user);
    let ticket = recorded
        .follow_up_ticket_id
        .map(|t| t.parse().expect("ticket id"));
    if let Some(t) = ticket {
        model.tickets.insert(t, Status::Open);
    }
    ticket
}

/// `minutes` of service that ended a minute ago, logged by the volunteer on `phone` in cell `cell`. Returns the
/// entry id.
pub fn activity(
    world: &mut World,
    model: &mut Model,
    phone: usize,
    cell: usize,
    minutes: u64,
) -> String {
    let grid = world.cells[cell].id.to_string();
    let p = &mut world.phones[phone];
    let now = p.now();
    let end = now - 60_000;
    let id = p
        .store
        .log_activity(
            now,
            &ActivityInput {
                grid_id: grid,
                activity: "patrol".into(),
                start_ms: end - minutes * 60_000,
                end_ms: end,
                notes: "楼道巡查".into(),
            },
        )
        .unwrap_or_else(|e| panic!("{} activity: {e}", p.label));
    model.pending += 1;
    id
}

/// The grid worker on `phone` approves an entry (the phone must already hold it), crediting the card.
pub fn approve(
    world: &mut World,
    model: &mut Model,
    phone: usize,
    entry: &str,
    volunteer_phone: usize,
    minutes: u64,
) {
    let volunteer = world.user(volunteer_phone);
    let p = &mut world.phones[phone];
    let now = p.now();
    p.store
        .approve_entry(now, entry, None)
        .unwrap_or_else(|e| panic!("{} approve: {e}", p.label));
    model.pending -= 1;
    model.approve(volunteer, minutes);
}

/// A resident's complaint raised by the worker on `phone` in cell `cell`.
pub fn ticket(
    world: &mut World,
    model: &mut Model,
    phone: usize,
    cell: usize,
    complex: bool,
) -> TicketId {
    let grid = world.cells[cell].id.to_string();
    let p = &mut world.phones[phone];
    let now = p.now();
    let id = p
        .store
        .create_ticket(
            now,
            &TicketInput {
                grid_id: grid,
                request_type: RequestType::Complaint,
                category: "water_leak".into(),
                complexity: if complex {
                    Complexity::Complex
                } else {
                    Complexity::Small
                },
                building: "3".into(),
                unit: Some("2".into()),
                household_id: None,
                description: "楼道漏水".into(),
                channel: Channel::GroupChat,
                reporter_name: None,
                reporter_phone: None,
            },
        )
        .unwrap_or_else(|e| panic!("{} ticket: {e}", p.label));
    let id: TicketId = id.parse().expect("ticket id");
    model.tickets.insert(id, Status::Open);
    id
}

/// A lifecycle step on a ticket by the worker on `phone`, `offset_ms` after the phone's now (the steps of one
/// handling happen minutes apart in the field; the offset stays well inside the drift bound).
pub fn step(
    world: &mut World,
    model: &mut Model,
    phone: usize,
    ticket: TicketId,
    step: TicketStep,
    offset_ms: u64,
) {
    let status = match &step {
        TicketStep::Take(_) => Status::Taken,
        TicketStep::Arrive(_) => Status::OnSite,
        TicketStep::Solve(_) => Status::Solved,
        TicketStep::Plan(_) => Status::Planned,
        TicketStep::Answer(_) => Status::Answered,
        TicketStep::Rate(..) => model.tickets.get(&ticket).copied().unwrap_or(Status::Open),
        TicketStep::Reopen(_) => Status::Reopened,
        TicketStep::Dispatch(..) => Status::Dispatched,
    };
    let p = &mut world.phones[phone];
    let now = p.now() + offset_ms;
    p.store
        .ticket_step(now, &ticket.to_string(), step)
        .unwrap_or_else(|e| panic!("{} ticket step: {e}", p.label));
    model.tickets.insert(ticket, status);
}

/// The property office redeems `points` of a volunteer's card as a fee offset for a household.
pub fn redeem(
    world: &mut World,
    model: &mut Model,
    phone: usize,
    volunteer_phone: usize,
    cell: usize,
    points: u64,
) -> Result<(), linli_ffi::error::Error> {
    let volunteer = world.user(volunteer_phone);
    let (hh, _) = world.cells[cell].households[0];
    let p = &mut world.phones[phone];
    let now = p.now();
    p.store.redeem(
        now,
        &volunteer.to_string(),
        points,
        &RedeemPurpose::FeeOffset {
            household_id: hh.to_string(),
            period: "2026-11".into(),
        },
    )?;
    model.redeem(volunteer, points);
    Ok(())
}
