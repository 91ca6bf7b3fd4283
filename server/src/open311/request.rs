//! A ticket as a GeoReport v2 service request, and its public updates (FixMyStreet's `servicerequestupdates`
//! extension). Only what a resident may see leaves here: see [`super::privacy`].

use linli_reports::calendar::w3c_datetime;
use linli_sync_core::hlc::Stamp;
use linli_sync_core::ids::TicketId;
use linli_sync_core::rule52022::{Policy52022, Verdict, evaluate};
use linli_sync_core::state::State;
use linli_sync_core::ticket::{Complexity, EventKind, Status, Ticket};

use super::catalogue::{self, Lang};
use super::privacy::mask;
use super::render::Node;

/// Open311's two statuses: a request is closed once solved, answered or closed, open otherwise (a reopen opens
/// it again).
pub fn is_closed(status: Status) -> bool {
    matches!(status, Status::Solved | Status::Answered | Status::Closed)
}

/// The detailed state, for `status_notes`.
pub fn state_label(status: Status, lang: Lang) -> &'static str {
    let (zh, en) = match status {
        Status::Unknown => ("处理中", "in progress"),
        Status::Open => ("已受理，待签收", "received, waiting to be taken"),
        Status::Taken => ("已签收，正在赶往现场", "taken, a handler is on the way"),
        Status::OnSite => ("工作人员已到场", "a handler is on site"),
        Status::Planned => ("已形成解决方案", "a plan has been made"),
        Status::Solved => ("已解决", "solved"),
        Status::Answered => ("已答复居民", "the resident has been answered"),
        Status::Reopened => ("已重新办理", "reopened"),
        Status::SentBack => ("重新派单中", "being dispatched again"),
        Status::Closed => ("已办结", "closed"),
    };
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// FixMyStreet's update statuses for each lifecycle event.
fn update_status(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Created | EventKind::Reopened | EventKind::SentBack => "OPEN",
        EventKind::Taken | EventKind::OnSite => "IN_PROGRESS",
        EventKind::PlanMade => "ACTION_SCHEDULED",
        EventKind::Solved | EventKind::Answered => "FIXED",
        EventKind::Rated | EventKind::Closed => "CLOSED",
    }
}

fn event_label(kind: EventKind, lang: Lang) -> &'static str {
    let (zh, en) = match kind {
        EventKind::Created => ("诉求已受理", "request received"),
        EventKind::Taken => ("已签收", "taken"),
        EventKind::OnSite => ("已到场", "on site"),
        EventKind::PlanMade => ("已形成方案", "plan made"),
        EventKind::Solved => ("已解决", "solved"),
        EventKind::Answered => ("已答复", "answered"),
        EventKind::Rated => ("居民已评价", "rated by the resident"),
        EventKind::Reopened => ("重新办理", "reopened"),
        EventKind::SentBack => ("退回重派", "sent back for dispatch"),
        EventKind::Closed => ("已办结", "closed"),
    };
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// One public update of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The op that made it.
    pub stamp: Stamp,
    /// What happened.
    pub kind: EventKind,
    /// The public note, masked.
    pub note: Option<String>,
}

/// The public updates of `ticket`, oldest first: every lifecycle event (what happened and when), never a comment
/// or a note (notes are internal until an op marks one public).
pub fn updates(ticket: &Ticket) -> Vec<Update> {
    ticket
        .timeline()
        .map(|(stamp, e)| Update {
            stamp: *stamp,
            kind: e.kind,
            note: None,
        })
        .collect()
}

/// The time the request is expected to be dealt with, from the 5-20-2-2 deadlines: for a small problem, solved
/// 20 minutes after arriving (5 + 20 minutes after taking, while nobody has arrived); for a complex one,
/// answered 2 days after the plan (2 + 2 days after taking, while there is no plan). `None` before the ticket is
/// taken and once it is closed.
pub fn expected_ms(ticket: &Ticket, policy: &Policy52022, now_ms: u64) -> Option<u64> {
    if is_closed(ticket.status()) {
        return None;
    }
    let e = evaluate(ticket, policy, now_ms);
    let deadline = |v: Verdict| match v {
        Verdict::Pending { deadline_ms } | Verdict::Overdue { deadline_ms } => Some(deadline_ms),
        _ => None,
    };
    // While the earlier step is open, the later one's clock has not really started: the expected time is the
    // earlier deadline plus the later step's allowance.
    match e.complexity {
        Complexity::Small => deadline(e.on_site)
            .map(|d| d + policy.small_solve_ms)
            .or_else(|| deadline(e.solved)),
        Complexity::Complex => deadline(e.plan)
            .map(|d| d + policy.complex_answer_ms)
            .or_else(|| deadline(e.answer)),
    }
}

/// What a request shows.
#[derive(Debug)]
pub struct Context<'a> {
    /// The community's replica state.
    pub state: &'a State,
    /// The language of labels.
    pub lang: Lang,
    /// The community's UTC offset.
    pub utc_offset_minutes: i32,
    /// Who answers when no linked body does: the community.
    pub community_name: &'a str,
    /// The server clock.
    pub now_ms: u64,
}

impl Context<'_> {
    fn time(&self, ms: u64) -> Node {
        Node::Text(w3c_datetime(ms, self.utc_offset_minutes))
    }

    /// The building-level address.
    fn address(&self, building: &str) -> String {
        let b = building.trim();
        match self.lang {
            Lang::Zh if b.chars().all(|c| c.is_ascii_digit()) => format!("{b}号楼"),
            Lang::Zh => b.to_string(),
            Lang::En => format!("Building {b}"),
        }
    }

    /// `ticket` as a service request, or `None` while its create op has not arrived.
    pub fn request(&self, id: TicketId, ticket: &Ticket) -> Option<Node> {
        let (created_at, create) = ticket.created.as_ref()?;
        let status = ticket.status();
        let code = ticket
            .category
            .val
            .clone()
            .unwrap_or_else(|| create.category.clone());
        let service = catalogue::service(self.state, &code);
        let service_name = service
            .as_ref()
            .map_or_else(|| code.clone(), |s| s.name(self.lang).to_string());
        let updates = updates(ticket);
        let updated = updates
            .last()
            .map_or(created_at.time.wall_ms, |u| u.stamp.time.wall_ms);
        let mut notes = state_label(status, self.lang).to_string();
        if let Some(note) = updates.iter().rev().find_map(|u| u.note.clone()) {
            notes.push_str(" — ");
            notes.push_str(&note);
        }
        let description = ticket
            .description
            .val
            .clone()
            .unwrap_or_else(|| create.description.clone());
        let policy = Policy52022::STANDARD;
        let notice = match ticket.effective_complexity() {
            Complexity::Small => match self.lang {
                Lang::Zh => "小问题：签收后5分钟内到场，到场后20分钟内解决",
                Lang::En => {
                    "Small problem: on site within 5 minutes of being taken, solved within 20 minutes"
                }
            },
            Complexity::Complex => match self.lang {
                Lang::Zh => "复杂问题：签收后2日内形成方案，方案后2日内答复",
                Lang::En => {
                    "Complex problem: a plan within 2 days of being taken, an answer within 2 days of the plan"
                }
            },
        };
        Some(Node::Obj(vec![
            ("service_request_id", Node::text(id.to_string())),
            (
                "status",
                Node::text(if is_closed(status) { "closed" } else { "open" }),
            ),
            ("status_notes", Node::Text(notes)),
            ("service_name", Node::Text(service_name)),
            ("service_code", Node::Text(code)),
            (
                "description",
                Node::Text(mask(&description, &create.reporter)),
            ),
            ("agency_responsible", Node::text(self.community_name)),
            ("service_notice", Node::text(notice)),
            ("address_id", Node::text(create.location.building.trim())),
            (
                "address",
                Node::Text(self.address(&create.location.building)),
            ),
            ("zipcode", Node::Null),
            ("lat", Node::Null),
            ("long", Node::Null),
            ("media_url", Node::Null),
            ("requested_datetime", self.time(created_at.time.wall_ms)),
            ("updated_datetime", self.time(updated)),
            (
                "expected_datetime",
                expected_ms(ticket, &policy, self.now_ms).map_or(Node::Null, |ms| self.time(ms)),
            ),
        ]))
    }

    /// The public updates of `ticket` as FixMyStreet's `request_update` items.
    pub fn updates(&self, id: TicketId, ticket: &Ticket) -> Vec<(u64, Node)> {
        let Some((_, create)) = ticket.created.as_ref() else {
            return Vec::new();
        };
        updates(ticket)
            .into_iter()
            .map(|u| {
                let mut text = event_label(u.kind, self.lang).to_string();
                if let Some(note) = &u.note {
                    text.push_str(" — ");
                    text.push_str(&mask(note, &create.reporter));
                }
                let node = Node::Obj(vec![
                    ("update_id", Node::text(u.stamp.op.to_string())),
                    ("service_request_id", Node::text(id.to_string())),
                    ("status", Node::text(update_status(u.kind))),
                    ("updated_datetime", self.time(u.stamp.time.wall_ms)),
                    ("description", Node::Text(text)),
                    ("media_url", Node::Null),
                ]);
                (u.stamp.time.wall_ms, node)
            })
            .collect()
    }
}
