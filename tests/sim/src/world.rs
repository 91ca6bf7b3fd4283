//! A community set up through the real API: a server process, the admin console, grid cells with households,
//! grid workers and micro-butlers (each with an enrolled phone), volunteers and the property office's phone.

use linli_sync_core::grid::{GridOp, Household, MemberRole};
use linli_sync_core::prelude::{GridId, HouseholdId, OpBody, Role, UserId};
use std::path::PathBuf;

use crate::http::Console;
use crate::phone::{Phone, SyncError};
use crate::server::{ADMIN_PASSWORD, ServerConfig, ServerProc};

/// The shape of a community.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Grid cells.
    pub grids: usize,
    /// Households per grid cell.
    pub households_per_grid: usize,
    /// Every `elderly_every`-th household is an elderly person living alone.
    pub elderly_every: usize,
    /// Households per building (buildings are numbered across the community).
    pub households_per_building: usize,
    /// Grid workers per grid cell (each with a phone).
    pub workers_per_grid: usize,
    /// Micro-butlers per grid cell (each with a phone).
    pub butlers_per_grid: usize,
    /// Server settings.
    pub server: ServerConfig,
    /// The admin who builds the community (`admin`, the first admin, of the first community).
    pub admin: String,
    /// Put before every username the world makes: usernames are unique across the communities of a server.
    pub prefix: String,
    /// The community's name, as its grid cells carry it.
    pub community: String,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            grids: 2,
            households_per_grid: 6,
            elderly_every: 2,
            households_per_building: 6,
            workers_per_grid: 2,
            butlers_per_grid: 2,
            server: ServerConfig::default(),
            admin: "admin".into(),
            prefix: String::new(),
            community: "幸福里社区".into(),
        }
    }
}

/// A grid cell and who is in it (indices into [`World::phones`]).
#[derive(Clone, Debug)]
pub struct Cell {
    /// Its id.
    pub id: GridId,
    /// Households: `(id, elderly living alone)`.
    pub households: Vec<(HouseholdId, bool)>,
    /// Grid workers' phones.
    pub workers: Vec<usize>,
    /// Micro-butlers' phones.
    pub butlers: Vec<usize>,
}

/// A running community.
#[derive(Debug)]
pub struct World {
    /// The server process (dropped, hence killed, with the world).
    pub server: ServerProc,
    /// The admin console.
    pub console: Console,
    /// Every phone; the property office's is [`World::office`].
    pub phones: Vec<Phone>,
    /// Grid cells.
    pub cells: Vec<Cell>,
    /// The property office's phone (an admin device that redeems card points).
    pub office: usize,
    /// Phones' files and the server's data live here.
    pub dir: tempfile::TempDir,
}

impl World {
    /// Starts a server and builds the community of `spec` through the API; every phone has bootstrapped.
    pub fn build(spec: &Spec) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = ServerProc::start(&dir.path().join("server"), spec.server.clone());
        World::build_on(server, ADMIN_PASSWORD, dir, spec)
    }

    /// Builds the community of `spec` on a server already running (the demo's), whose first admin has `password`.
    pub fn build_on(
        server: ServerProc,
        password: &str,
        dir: tempfile::TempDir,
        spec: &Spec,
    ) -> World {
        let mut console = Console::login_as(&server.base, &spec.admin, password);
        let prefix = &spec.prefix;
        let mut numbered = 0usize;
        let base = server.base.clone();
        let phones_dir = dir.path().join("phones");
        std::fs::create_dir_all(&phones_dir).expect("phones dir");
        let mut phones = Vec::new();
        let mut cells = Vec::new();
        let mut ops = Vec::new();
        for g in 0..spec.grids {
            let id = GridId::random();
            ops.push(OpBody::Grid(
                id,
                GridOp::Create {
                    name: format!("第{}网格", g + 1),
                    community: spec.community.clone(),
                },
            ));
            let mut cell = Cell {
                id,
                households: Vec::new(),
                workers: Vec::new(),
                butlers: Vec::new(),
            };
            for (role, count, member) in [
                (Role::GridWorker, spec.workers_per_grid, MemberRole::Worker),
                (Role::Volunteer, spec.butlers_per_grid, MemberRole::Butler),
            ] {
                for i in 0..count {
                    let name = match member {
                        MemberRole::Worker => format!("{prefix}worker-{g}-{i}"),
                        MemberRole::Butler => format!("{prefix}butler-{g}-{i}"),
                    };
                    let user = console.add_user(&name, role);
                    ops.push(OpBody::Grid(id, GridOp::AddMember { user, role: member }));
                    let enrolment = console.enrol(user, &name);
                    phones.push(Phone::open(&phones_dir, &name, enrolment, &base));
                    match member {
                        MemberRole::Worker => cell.workers.push(phones.len() - 1),
                        MemberRole::Butler => cell.butlers.push(phones.len() - 1),
                    }
                }
            }
            for h in 0..spec.households_per_grid {
                let household = HouseholdId::random();
                let elderly = spec.elderly_every > 0 && h % spec.elderly_every == 0;
                ops.push(OpBody::Grid(
                    id,
                    GridOp::AddHousehold {
                        household,
                        details: Household {
                            building: format!(
                                "{}",
                                numbered / spec.households_per_building.max(1) + 1
                            ),
                            unit: format!("{}", numbered % 3 + 1),
                            room: format!("{}0{}", numbered % 6 + 1, numbered % 4 + 1),
                            elderly_alone: elderly,
                            contact_name: None,
                        },
                    },
                ));
                if elderly && !cell.butlers.is_empty() {
                    let butler = phones[cell.butlers[h % cell.butlers.len()]].id.user;
                    ops.push(OpBody::Grid(id, GridOp::AssignVisit { household, butler }));
                }
                cell.households.push((household, elderly));
                numbered += 1;
            }
            cells.push(cell);
        }
        console.write(crate::now_ms(), ops);
        let office_user = console.add_user(&format!("{prefix}property-office"), Role::Admin);
        let enrolment = console.enrol(office_user, "property office");
        phones.push(Phone::open(&phones_dir, "office", enrolment, &base));
        let office = phones.len() - 1;
        let mut world = World {
            server,
            console,
            phones,
            cells,
            office,
            dir,
        };
        world.sync_all().expect("every phone bootstraps");
        world
    }

    /// Syncs every phone once (retrying network failures briefly), in index order.
    pub fn sync_all(&mut self) -> Result<(), (String, SyncError)> {
        for p in &mut self.phones {
            p.sync_retrying(20).map_err(|e| (p.label.clone(), e))?;
        }
        Ok(())
    }

    /// Syncs every phone twice, so that each has pulled what the others pushed.
    pub fn settle(&mut self) {
        for round in 0..2 {
            if let Err((who, e)) = self.sync_all() {
                panic!("{who} could not sync (round {round}): {e:?}");
            }
        }
    }

    /// Enrols a new device for the user of phone `of` (a replaced phone, or a second device) and opens a fresh
    /// replica for it; returns its index. It has not synced yet.
    pub fn enrol_another(&mut self, of: usize, label: &str) -> usize {
        let user = self.phones[of].id.user;
        let enrolment = self.console.enrol(user, label);
        let dir = self.scratch("phones");
        let base = self.server.base.clone();
        self.phones.push(Phone::open(&dir, label, enrolment, &base));
        self.phones.len() - 1
    }

    /// A phone's user.
    pub fn user(&self, phone: usize) -> UserId {
        self.phones[phone].id.user
    }

    /// A new directory for extra files.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).expect("scratch dir");
        p
    }
}
