//! The records and enums that cross the FFI boundary: inputs of the writes and rows of the views. Ids are UUID
//! strings; times are milliseconds since the Unix epoch. Conversions to `sync-core`'s types live here too.

use linli_sync_core::prelude as core;
use linli_sync_core::rule52022::Verdict as CoreVerdict;

/// A user's role, as the server enrolled the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Role {
    /// Cooperative staff and the property office.
    Admin,
    /// 网格员.
    GridWorker,
    /// Volunteers and micro-butlers.
    Volunteer,
}

/// Who this replica belongs to. The ids come from the server when the device is enrolled.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DeviceIdentity {
    /// This device's replica id (a UUID).
    pub device_id: String,
    /// The signed-in user (a UUID).
    pub user_id: String,
    /// The user's role.
    pub role: Role,
}

/// A health concern seen on a visit; any flag raises a follow-up ticket in the same write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum HealthFlag {
    /// Feels unwell.
    Unwell,
    /// Has fallen or is injured.
    Fall,
    /// Needs a doctor or an ambulance now.
    Emergency,
    /// Anything else worth a follow-up.
    Other,
}

/// A need noted on a visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Need {
    /// Groceries.
    Groceries,
    /// Meals.
    Meals,
    /// Medicine.
    Medicine,
    /// A repair in the flat.
    Repair,
    /// Company, a chat.
    Company,
    /// Something else (see notes).
    Other,
}

/// A door-knock visit (敲门行动). The visit time is the device's clock at the moment of recording.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct VisitInput {
    /// The household's grid cell.
    pub grid_id: String,
    /// The household visited.
    pub household_id: String,
    /// Whether the resident was seen.
    pub seen: bool,
    /// A health concern; raises a follow-up ticket for the grid worker.
    pub health: Option<HealthFlag>,
    /// Needs noted.
    pub needs: Vec<Need>,
    /// Free notes.
    pub notes: String,
}

/// What recording a visit created.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct VisitRecorded {
    /// The new log entry.
    pub entry_id: String,
    /// The follow-up ticket, when the visit carried a health flag.
    pub follow_up_ticket_id: Option<String>,
}

/// A stretch of volunteer service, to be approved by a grid worker.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ActivityInput {
    /// Where the service was given.
    pub grid_id: String,
    /// Kind of service, e.g. `patrol`, `cleaning`, `escort`.
    pub activity: String,
    /// Start, ms since the epoch.
    pub start_ms: u64,
    /// End, ms since the epoch; after the start, at most 24 hours later, not in the future.
    pub end_ms: u64,
    /// Free notes.
    pub notes: String,
}

/// What the resident asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum RequestType {
    /// 咨询.
    Consultation,
    /// 求助.
    Help,
    /// 投诉.
    Complaint,
    /// 举报.
    Report,
    /// 建议.
    Suggestion,
}

/// Where a request came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Channel {
    /// 收集站: the intake desk.
    Desk,
    /// 连心驿站微信群: the group chat.
    GroupChat,
    /// Raised on a door-knock visit.
    Visit,
    /// A phone call.
    Phone,
    /// A government hotline, forwarded.
    Hotline,
    /// Spotted on patrol.
    Patrol,
}

/// Small problems have the 20-minute rule, complex ones the 2-day plan and answer rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Complexity {
    /// Solvable on the spot.
    Small,
    /// Needs a plan.
    Complex,
}

/// A new ticket (接诉即办).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct TicketInput {
    /// The grid cell it belongs to.
    pub grid_id: String,
    /// Kind of request.
    pub request_type: RequestType,
    /// Category code, e.g. `water_leak`, `dispute`.
    pub category: String,
    /// Small or complex.
    pub complexity: Complexity,
    /// Building.
    pub building: String,
    /// Unit (entrance).
    pub unit: Option<String>,
    /// The household concerned.
    pub household_id: Option<String>,
    /// What the resident said.
    pub description: String,
    /// How it came in.
    pub channel: Channel,
    /// The resident's name as given.
    pub reporter_name: Option<String>,
    /// A phone number to answer them on.
    pub reporter_phone: Option<String>,
}

/// What a redemption pays for.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum RedeemPurpose {
    /// 志愿服务抵扣物业费: offsets a household's property fee.
    FeeOffset {
        /// The household.
        household_id: String,
        /// `YYYY` or `YYYY-MM`.
        period: String,
    },
    /// Goods from the cooperative's shop.
    Goods {
        /// What.
        item: String,
    },
}

/// A ticket's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum TicketStatus {
    /// Parts arrived before the create (mid-sync only).
    Unknown,
    /// Waiting to be taken.
    Open,
    /// Taken; the 5-minute clock runs.
    Taken,
    /// Handler on site.
    OnSite,
    /// Complex problem with a plan.
    Planned,
    /// Solved, not yet answered.
    Solved,
    /// Resident answered.
    Answered,
    /// Reopened.
    Reopened,
    /// Sent back to dispatch.
    SentBack,
    /// Closed.
    Closed,
    /// Dispatched to a linked body, not yet accepted by it.
    Dispatched,
    /// Accepted by the linked body, being handled there.
    WithAgency,
}

/// Where one step of the 5-20-2-2 rule stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Verdict {
    /// The step does not apply to this ticket.
    NotApplicable,
    /// Its clock has not started.
    NotStarted,
    /// Not done, deadline ahead.
    Pending,
    /// Not done, deadline passed.
    Overdue,
    /// Done in time.
    Met,
    /// Done late.
    Missed,
}

/// One step of the 5-20-2-2 rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Step {
    /// Where it stands.
    pub verdict: Verdict,
    /// The deadline, while pending or overdue.
    pub deadline_ms: Option<u64>,
    /// How long it took, once done.
    pub elapsed_ms: Option<u64>,
}

/// A row of "my open tickets".
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TicketView {
    /// The ticket.
    pub ticket_id: String,
    /// Its grid cell.
    pub grid_id: String,
    /// Category code.
    pub category: String,
    /// Description.
    pub description: String,
    /// Status.
    pub status: TicketStatus,
    /// Small or complex (complex once a plan was made).
    pub complexity: Complexity,
    /// When it was created.
    pub created_ms: u64,
    /// When it was first taken.
    pub taken_ms: Option<u64>,
    /// Taken → on site ≤ 5 minutes.
    pub on_site: Step,
    /// On site → solved ≤ 20 minutes (small problems).
    pub solved: Step,
    /// Taken → plan ≤ 2 days (complex problems).
    pub plan: Step,
    /// Plan → answer ≤ 2 days (complex problems).
    pub answer: Step,
}

/// A row of "my households to visit today".
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct HouseholdView {
    /// The household.
    pub household_id: String,
    /// Its grid cell.
    pub grid_id: String,
    /// Building.
    pub building: String,
    /// Unit.
    pub unit: String,
    /// Flat.
    pub room: String,
    /// Name to ask for, when given.
    pub contact_name: Option<String>,
    /// An elderly person living alone.
    pub elderly_alone: bool,
    /// The latest visit known to this device.
    pub last_visit_ms: Option<u64>,
    /// Whether the resident was seen on that visit.
    pub last_seen: Option<bool>,
    /// Whether that visit was on or after the start of the day asked about.
    pub visited_today: bool,
}

/// A row of "grid cells I cover".
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct GridView {
    /// The cell.
    pub grid_id: String,
    /// Its name.
    pub name: String,
    /// Its community.
    pub community: String,
    /// I am a grid worker there.
    pub as_worker: bool,
    /// I am a micro-butler there.
    pub as_butler: bool,
}

/// "My hours and card balance".
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct MySummary {
    /// Minutes of service approved.
    pub approved_minutes: u64,
    /// Minutes of service waiting for a decision.
    pub pending_minutes: u64,
    /// Green energy card balance.
    pub card_balance: u64,
    /// Points ever credited.
    pub card_credited: u64,
    /// Points redeemed.
    pub card_redeemed: u64,
}

/// A volunteer's card as this device sees it (for the property office).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CardView {
    /// The volunteer.
    pub volunteer_id: String,
    /// Balance.
    pub balance: u64,
    /// Points this device may redeem offline (rights it holds).
    pub rights_here: u64,
    /// Spends received whose cause has not arrived yet.
    pub pending_spends: u64,
}

/// A service activity waiting for a grid worker's decision.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PendingEntry {
    /// The entry.
    pub entry_id: String,
    /// The volunteer.
    pub volunteer_id: String,
    /// The grid cell.
    pub grid_id: String,
    /// Kind of service.
    pub activity: String,
    /// Start.
    pub start_ms: u64,
    /// End.
    pub end_ms: u64,
    /// Whole minutes.
    pub minutes: u32,
}

/// What one sync round trip (or one `sync()` call, summed) did.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncOutcome {
    /// Local ops the server acknowledged in this answer.
    pub acked: u32,
    /// New ops received and applied.
    pub received: u32,
    /// The server has more ops: sync again.
    pub has_more: bool,
    /// The pull cursor now.
    pub cursor: u64,
    /// Local ops the server refused for good, now set aside (see `rejected_ops`).
    pub set_aside: u32,
    /// Grid cells the user was given since the last answer (their households, tickets and history are fetched by
    /// the same `sync()`: see `rescoped`).
    pub grids_gained: Vec<String>,
    /// Grid cells the user no longer covers: their data is purged from the file by the same `sync()`.
    pub grids_lost: Vec<String>,
    /// The user's scope changed and the replica's data was replaced by a snapshot of the new scope: what became
    /// visible is there, what is no longer visible is gone from the file, the device's unacknowledged ops are kept.
    pub rescoped: bool,
    /// The user's scope changed and the replica still holds data of the old one: fetch `GET /v1/snapshot` and pass
    /// it to `bootstrap` (`sync()` does this itself; only apps with their own HTTP stack need to).
    pub needs_snapshot: bool,
}

/// One of this device's ops that the server refused for good.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct RejectedOp {
    /// The op.
    pub op_id: String,
    /// Its kind, e.g. `entry.visit`.
    pub kind: String,
    /// The entity it acted on.
    pub entity_id: String,
    /// The server's code, e.g. `out_of_scope`.
    pub code: String,
    /// When the refusal was received.
    pub rejected_ms: u64,
}

/// Work a grid worker should look at (issue 17): accepted because it was within the rights of its time, but the
/// cell's state no longer explains it. See `linli_sync_core::review`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ReviewItem {
    /// `visit` or `ticket`.
    pub kind: String,
    /// The entry or ticket.
    pub entity_id: String,
    /// Its grid cell.
    pub grid_id: String,
    /// `household_removed` (a visit to a household since removed) or `author_left_cell` (work by someone who has
    /// left the cell since).
    pub reason: String,
    /// Who did the work.
    pub by_user_id: String,
    /// When (the op's time, ms since the epoch).
    pub at_ms: u64,
}

/// The replica's sync state.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    /// This device.
    pub device_id: String,
    /// The user.
    pub user_id: String,
    /// The role.
    pub role: Role,
    /// The pull cursor.
    pub cursor: u64,
    /// Local ops not yet acknowledged by the server.
    pub unsynced_ops: u64,
    /// When the last sync answer was applied.
    pub last_sync_ms: Option<u64>,
}

impl From<Role> for core::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => core::Role::Admin,
            Role::GridWorker => core::Role::GridWorker,
            Role::Volunteer => core::Role::Volunteer,
        }
    }
}

impl From<core::Role> for Role {
    fn from(r: core::Role) -> Self {
        match r {
            core::Role::Admin => Role::Admin,
            core::Role::GridWorker => Role::GridWorker,
            core::Role::Volunteer => Role::Volunteer,
        }
    }
}

impl From<HealthFlag> for core::HealthFlag {
    fn from(f: HealthFlag) -> Self {
        match f {
            HealthFlag::Unwell => core::HealthFlag::Unwell,
            HealthFlag::Fall => core::HealthFlag::Fall,
            HealthFlag::Emergency => core::HealthFlag::Emergency,
            HealthFlag::Other => core::HealthFlag::Other,
        }
    }
}

impl From<Need> for core::Need {
    fn from(n: Need) -> Self {
        match n {
            Need::Groceries => core::Need::Groceries,
            Need::Meals => core::Need::Meals,
            Need::Medicine => core::Need::Medicine,
            Need::Repair => core::Need::Repair,
            Need::Company => core::Need::Company,
            Need::Other => core::Need::Other,
        }
    }
}

impl From<RequestType> for core::RequestType {
    fn from(r: RequestType) -> Self {
        match r {
            RequestType::Consultation => core::RequestType::Consultation,
            RequestType::Help => core::RequestType::Help,
            RequestType::Complaint => core::RequestType::Complaint,
            RequestType::Report => core::RequestType::Report,
            RequestType::Suggestion => core::RequestType::Suggestion,
        }
    }
}

impl From<Channel> for core::Channel {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Desk => core::Channel::Desk,
            Channel::GroupChat => core::Channel::GroupChat,
            Channel::Visit => core::Channel::Visit,
            Channel::Phone => core::Channel::Phone,
            Channel::Hotline => core::Channel::Hotline,
            Channel::Patrol => core::Channel::Patrol,
        }
    }
}

impl From<Complexity> for core::Complexity {
    fn from(c: Complexity) -> Self {
        match c {
            Complexity::Small => core::Complexity::Small,
            Complexity::Complex => core::Complexity::Complex,
        }
    }
}

impl From<core::Complexity> for Complexity {
    fn from(c: core::Complexity) -> Self {
        match c {
            core::Complexity::Small => Complexity::Small,
            core::Complexity::Complex => Complexity::Complex,
        }
    }
}

impl From<core::Status> for TicketStatus {
    fn from(s: core::Status) -> Self {
        use core::Status as S;
        match s {
            S::Unknown => TicketStatus::Unknown,
            S::Open => TicketStatus::Open,
            S::Taken => TicketStatus::Taken,
            S::OnSite => TicketStatus::OnSite,
            S::Planned => TicketStatus::Planned,
            S::Solved => TicketStatus::Solved,
            S::Answered => TicketStatus::Answered,
            S::Reopened => TicketStatus::Reopened,
            S::SentBack => TicketStatus::SentBack,
            S::Closed => TicketStatus::Closed,
            S::Dispatched => TicketStatus::Dispatched,
            S::WithAgency => TicketStatus::WithAgency,
        }
    }
}

impl TicketStatus {
    /// The name stored in the `v_ticket.status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Unknown => "unknown",
            TicketStatus::Open => "open",
            TicketStatus::Taken => "taken",
            TicketStatus::OnSite => "on_site",
            TicketStatus::Planned => "planned",
            TicketStatus::Solved => "solved",
            TicketStatus::Answered => "answered",
            TicketStatus::Reopened => "reopened",
            TicketStatus::SentBack => "sent_back",
            TicketStatus::Closed => "closed",
            TicketStatus::Dispatched => "dispatched",
            TicketStatus::WithAgency => "with_agency",
        }
    }

    /// Parses a stored name (unknown names read as `Unknown`).
    pub fn parse(s: &str) -> Self {
        [
            TicketStatus::Open,
            TicketStatus::Taken,
            TicketStatus::OnSite,
            TicketStatus::Planned,
            TicketStatus::Solved,
            TicketStatus::Answered,
            TicketStatus::Reopened,
            TicketStatus::SentBack,
            TicketStatus::Closed,
            TicketStatus::Dispatched,
            TicketStatus::WithAgency,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .unwrap_or(TicketStatus::Unknown)
    }
}

impl Step {
    /// The stored form of a verdict judged with no "now" (so never overdue): name, deadline, elapsed.
    pub fn stored(v: CoreVerdict) -> (&'static str, Option<u64>, Option<u64>) {
        match v {
            CoreVerdict::NotApplicable => ("not_applicable", None, None),
            CoreVerdict::NotStarted => ("not_started", None, None),
            CoreVerdict::Pending { deadline_ms } | CoreVerdict::Overdue { deadline_ms } => {
                ("pending", Some(deadline_ms), None)
            }
            CoreVerdict::Met { elapsed_ms } => ("met", None, Some(elapsed_ms)),
            CoreVerdict::Missed { elapsed_ms } => ("missed", None, Some(elapsed_ms)),
        }
    }

    /// Reads a stored step, judging a pending one against `now_ms`.
    pub fn load(
        name: &str,
        deadline_ms: Option<u64>,
        elapsed_ms: Option<u64>,
        now_ms: u64,
    ) -> Step {
        let verdict = match name {
            "not_applicable" => Verdict::NotApplicable,
            "pending" if deadline_ms.is_some_and(|d| now_ms > d) => Verdict::Overdue,
            "pending" => Verdict::Pending,
            "met" => Verdict::Met,
            "missed" => Verdict::Missed,
            _ => Verdict::NotStarted,
        };
        Step {
            verdict,
            deadline_ms,
            elapsed_ms,
        }
    }
}
