//! A ticket as a GeoReport v2 service request, and its public updates (FixMyStreet's `servicerequestupdates`
//! extension). Only what a resident may see leaves here: see [`super::privacy`].

use linli_reports::calendar::w3c_datetime;
use linli_sync_core::hlc::Stamp;
use linli_sync_core::ids::{AgencyId, TicketId};
use linli_sync_core::route::Handler;
use linli_sync_core::rule52022::{Policy52022, Verdict, evaluate};
use linli_sync_core::state::{Responsible, State};
use linli_sync_core::ticket::{Complexity, EventKind, Status, Ticket, UpdateKind};

use super::catalogue::{self, Lang};
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
        Status::Dispatched => ("已转联动单位", "referred to a linked body"),
        Status::WithAgency => ("联动单位已受理", "a linked body is handling it"),
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
        EventKind::Taken | EventKind::OnSite | EventKind::AgencyAccepted => "IN_PROGRESS",
        EventKind::PlanMade | EventKind::Decided => "ACTION_SCHEDULED",
        EventKind::Dispatched => "INTERNAL_REFERRAL",
        EventKind::Solved | EventKind::Answered | EventKind::AgencyCompleted => "FIXED",
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
        EventKind::Dispatched => ("已转联动单位", "referred to a linked body"),
        EventKind::AgencyAccepted => ("联动单位已受理", "accepted by the linked body"),
        EventKind::AgencyCompleted => ("联动单位已办结", "completed by the linked body"),
        EventKind::Decided => ("议事会已作出决定", "decided by the residents' council"),
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
    /// The event, or `None` for a public comment.
    pub kind: Option<EventKind>,
    /// The FixMyStreet status after it.
    pub status: &'static str,
    /// The linked body of a dispatch step.
    pub agency: Option<AgencyId>,
    /// The public note or comment (not yet masked).
    pub note: Option<String>,
}

/// The public updates of `ticket`, oldest first: every lifecycle event (what happened and when) with its note when
/// the note was marked public, and the public comments (`Ticket::public_updates`). A comment carries the status
/// of the event before it.
pub fn updates(ticket: &Ticket) -> Vec<Update> {
    let mut status = "OPEN";
    ticket
        .public_updates()
        .into_iter()
        .map(|u| {
            let kind = match u.kind {
                UpdateKind::Event(k) => {
                    status = update_status(k);
                    Some(k)
                }
                UpdateKind::Comment => None,
            };
            Update {
                stamp: u.stamp,
                kind,
                status,
                agency: u.agency,
                note: u.text,
            }
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
    /// The community's services (built once per answer).
    pub services: Vec<catalogue::Service>,
    /// Masks free text of the reporter's and the household register's personal data (built once per answer).
    pub masker: super::privacy::Masker,
}

impl Context<'_> {
    fn time(&self, ms: u64) -> Node {
        Node::Text(w3c_datetime(ms, self.utc_offset_minutes))
    }

    /// `text` masked of the reporter's and the household register's personal data.
    fn mask(&self, text: &str, reporter: &linli_sync_core::ticket::Reporter) -> String {
        self.masker.mask(text, reporter)
    }

    fn agency_name(&self, id: &AgencyId) -> Option<String> {
        self.state.agency(id).and_then(|a| a.name.val.clone())
    }

    /// Who answers for the request: the linked body it is dispatched to, or that its category's routing rule
    /// names; the community otherwise (a person's name never leaves through Open311).
    fn responsible(&self, ticket: &Ticket) -> String {
        // A dispatch first, even over an assignee (who keeps following the ticket): the body answers for it.
        let agency = ticket.agency().or(match self.state.handler_of(ticket) {
            Responsible::Agency(a) | Responsible::Routed(Handler::Agency(a)) => Some(a),
            Responsible::Users(_) | Responsible::Routed(Handler::User(_)) | Responsible::Nobody => {
                None
            }
        });
        let agency = agency.and_then(|a| self.agency_name(&a));
        agency.unwrap_or_else(|| self.community_name.to_string())
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
        let service = self.services.iter().find(|s| s.code == code);
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
            notes.push_str(&self.mask(&note, &create.reporter));
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
                Node::Text(self.mask(&description, &create.reporter)),
            ),
            ("agency_responsible", Node::Text(self.responsible(ticket))),
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
                let mut text = match u.kind {
                    Some(k) => event_label(k, self.lang).to_string(),
                    None => match self.lang {
                        Lang::Zh => "工作人员留言".to_string(),
                        Lang::En => "a note from the staff".to_string(),
                    },
                };
                if let Some(name) = u.agency.and_then(|a| self.agency_name(&a)) {
                    text.push_str(": ");
                    text.push_str(&name);
                }
                if let Some(note) = &u.note {
                    text.push_str(" — ");
                    text.push_str(&self.mask(note, &create.reporter));
                }
                let node = Node::Obj(vec![
                    ("update_id", Node::text(u.stamp.op.to_string())),
                    ("service_request_id", Node::text(id.to_string())),
                    ("status", Node::text(u.status)),
                    ("updated_datetime", self.time(u.stamp.time.wall_ms)),
                    ("description", Node::Text(text)),
                    ("media_url", Node::Null),
                ]);
                (u.stamp.time.wall_ms, node)
            })
            .collect()
    }
}
