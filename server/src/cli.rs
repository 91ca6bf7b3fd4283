//! The `linli` command line: `serve`, and the administration commands that work on the database directly
//! (`community add`, `community list`, `user add`, `user unthrottle`, `device enrol`, `token revoke`,
//! `fees import`, `check`), with the same configuration as the server.

use clap::{Parser, Subcommand};
use linli_sync_core::ids::ReplicaId;
use linli_sync_core::rights::Role;

use crate::app::{self, StartError};
use crate::community::CommunityId;
use crate::config::Config;
use crate::db;
use crate::identity;

/// Linli's sync server.
#[derive(Debug, Parser)]
#[command(name = "linli", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server until SIGTERM or Ctrl-C.
    Serve,
    /// Manage communities (the tenants: each has its own users, devices, op log and reports).
    Community {
        /// What to do.
        #[command(subcommand)]
        command: CommunityCommand,
    },
    /// Manage users.
    User {
        /// What to do.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage devices.
    Device {
        /// What to do.
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Manage tokens.
    Token {
        /// What to do.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The property-fee ledger.
    Fees {
        /// What to do.
        #[command(subcommand)]
        command: FeesCommand,
    },
    /// Rebuild each community from its op log and compare it with its stored checkpoint (state and log index);
    /// one line per community. Exits non-zero if a checkpoint does not read back or differs from the log.
    Check {
        /// Only this community.
        #[arg(long)]
        community: Option<CommunityId>,
    },
}

/// `linli community …`
#[derive(Debug, Subcommand)]
pub enum CommunityCommand {
    /// Create a community; prints its id.
    Add {
        /// Its name, e.g. 幸福里社区.
        #[arg(long)]
        name: String,
        /// The street office it belongs to, e.g. 城东街道.
        #[arg(long, default_value = "")]
        street_office: String,
    },
    /// List the communities: id, name, street office, one a line (tab-separated).
    List,
    /// Rename a community (an upgraded database's is `community 1` until named).
    Rename {
        /// Its id.
        #[arg(long)]
        id: CommunityId,
        /// Its new name.
        #[arg(long)]
        name: String,
        /// Its street office.
        #[arg(long, default_value = "")]
        street_office: String,
    },
}

/// `linli fees …`
#[derive(Debug, Subcommand)]
pub enum FeesCommand {
    /// Import dues from a property office's CSV file (columns building/楼号, unit/单元, room/房号,
    /// period/期间, amount/应收金额 in yuan). All or nothing: any bad row refuses the whole file and is listed.
    Import {
        /// The CSV file.
        file: std::path::PathBuf,
        /// Check the file and report, without storing anything.
        #[arg(long)]
        dry_run: bool,
        /// The community whose households the file lists (may be left out only while there is one community).
        #[arg(long)]
        community: Option<CommunityId>,
    },
}

/// `linli user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Lift a username's login throttle (the running server applies it within a second). The way back in when
    /// the only admin is kept out by someone guessing at their password.
    Unthrottle {
        /// The login name.
        #[arg(long)]
        username: String,
    },
    /// Create a user; prints its id.
    Add {
        /// Login name.
        #[arg(long)]
        username: String,
        /// `district_admin` (of every community), `admin`, `grid_worker` or `volunteer`.
        #[arg(long, value_parser = parse_account_role)]
        role: AccountRole,
        /// The community the user belongs to (not for a district admin).
        #[arg(long)]
        community: Option<CommunityId>,
        /// Password for web logins (read from LINLI_NEW_PASSWORD when not given; none if neither).
        #[arg(long, env = "LINLI_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

/// `linli device …`
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Issue a one-time enrolment code for a user's new device; prints the code.
    Enrol {
        /// The user the device will belong to.
        #[arg(long)]
        username: String,
        /// A label for the device.
        #[arg(long, default_value = "")]
        label: String,
    },
}

/// `linli token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Revoke a device: its refresh tokens stop working and its next request gets `device_revoked`. The card
    /// rights it held return to the pool when the server next looks (within a second while it runs, else at start).
    Revoke {
        /// The device id.
        #[arg(long)]
        device: ReplicaId,
    },
}

/// A role as `user add` takes it: a role within a community, or the district admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRole {
    /// An admin of every community.
    District,
    /// A role within one community.
    Community(Role),
}

fn parse_account_role(s: &str) -> Result<AccountRole, String> {
    if s == "district_admin" {
        return Ok(AccountRole::District);
    }
    s.parse()
        .map(AccountRole::Community)
        .map_err(|()| "expected district_admin, admin, grid_worker or volunteer".to_string())
}

/// Runs a parsed command line.
pub fn run(cli: Cli, config: Config) -> Result<(), StartError> {
    match cli.command {
        Command::Serve => actix_web::rt::System::new().block_on(app::serve(config)),
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    role,
                    community,
                    password,
                },
        } => {
            // A user of a community names it, or is of the only one there is.
            let mut conn = connect(&config)?;
            let (role, community) = match (role, community) {
                (AccountRole::District, None) => (Role::Admin, None),
                (AccountRole::District, Some(_)) => {
                    return Err(StartError::Io(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "a district admin belongs to no community: leave out --community",
                    )));
                }
                (AccountRole::Community(r), c) => (r, Some(only_community(&mut conn, c)?)),
            };
            let hash = password
                .as_deref()
                .map(crate::password::hash_now)
                .transpose()
                .map_err(|e| identity::IdentityError::Hash(e.to_string()))?;
            let user = identity::add_user(
                &mut conn,
                &username,
                role,
                community,
                hash.as_deref(),
                now(),
            )?;
            println!("{}", user.id);
            Ok(())
        }
        Command::Community {
            command:
                CommunityCommand::Add {
                    name,
                    street_office,
                },
        } => {
            let mut conn = connect(&config)?;
            let c = crate::community::create(&mut conn, &name, &street_office, now())?;
            println!("{}", c.id);
            Ok(())
        }
        Command::Community {
            command:
                CommunityCommand::Rename {
                    id,
                    name,
                    street_office,
                },
        } => {
            let mut conn = connect(&config)?;
            crate::community::rename(&mut conn, id, &name, &street_office)?;
            println!("community {id} is now {name} ({street_office})");
            Ok(())
        }
        Command::Community {
            command: CommunityCommand::List,
        } => {
            let mut conn = connect(&config)?;
            for c in crate::community::list(&mut conn)? {
                println!("{}\t{}\t{}", c.id, c.name, c.street_office);
            }
            Ok(())
        }
        Command::User {
            command: UserCommand::Unthrottle { username },
        } => {
            let mut conn = connect(&config)?;
            identity::record_throttle_lift(&mut conn, &username, now())?;
            println!("lifted the login throttle of `{username}`");
            Ok(())
        }
        Command::Device {
            command: DeviceCommand::Enrol { username, label },
        } => {
            let mut conn = connect(&config)?;
            let user = identity::user_by_name(&mut conn, &username)?;
            let ttl = i64::try_from(config.enrolment_code_ttl_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX);
            let code = identity::issue_code(&mut conn, user.id, user.id, &label, now(), ttl)?;
            println!("{code}");
            Ok(())
        }
        Command::Fees {
            command:
                FeesCommand::Import {
                    file,
                    dry_run,
                    community,
                },
        } => {
            let text = std::fs::read_to_string(&file)?;
            let pool = db::open(&config.database_url, 2)?;
            let community = {
                let mut conn = pool
                    .get()
                    .map_err(|e| crate::store::StoreError::Pool(e.to_string()))?;
                only_community(&mut conn, community)?
            };
            // No periodic checkpoint from this short-lived process (exit would cut its thread short): the server
            // writes them.
            let cache = crate::engine::CacheConfig {
                checkpoint_every: i64::MAX,
                ..crate::engine::CacheConfig::default()
            };
            let engine =
                crate::engine::Engines::with_cache(pool.clone(), app::rules(&config), cache)
                    .get(community)?;
            let parsed = linli_reports::fees::parse_dues(&text, &engine.view().state);
            match parsed {
                Err(rows) => {
                    for r in &rows {
                        eprintln!("line {}: {}", r.line, r.reason);
                    }
                    Err(StartError::Io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} row(s) rejected; nothing was imported", rows.len()),
                    )))
                }
                Ok(dues) if dry_run => {
                    println!(
                        "{} due(s) would be imported (dry run: nothing stored)",
                        dues.len()
                    );
                    Ok(())
                }
                Ok(dues) => {
                    let mut conn = pool
                        .get()
                        .map_err(|e| crate::store::StoreError::Pool(e.to_string()))?;
                    let n = crate::ledger::import_dues(&mut conn, community, &dues, now())?;
                    println!("imported {n} due(s)");
                    Ok(())
                }
            }
        }
        Command::Check { community } => {
            let mut conn = connect(&config)?;
            let communities = match community {
                Some(c) => {
                    if crate::community::get(&mut conn, c)?.is_none() {
                        return Err(crate::store::StoreError::NoSuchCommunity(c).into());
                    }
                    vec![c]
                }
                None => crate::community::list(&mut conn)?
                    .into_iter()
                    .map(|c| c.id)
                    .collect(),
            };
            let rules = app::rules(&config);
            let mut bad = 0;
            for c in communities {
                let (ok, line) = check_one(&mut conn, c, &rules)?;
                println!("{line}");
                bad += usize::from(!ok);
            }
            if bad > 0 {
                return Err(StartError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{bad} checkpoint(s) unreadable or different from the log"),
                )));
            }
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Revoke { device },
        } => {
            let mut conn = connect(&config)?;
            identity::revoke_device(&mut conn, device, now())?;
            // The card rights it held return to the pool through the server, the one writer of ops: the running
            // server finds the revocation within a second, or at its next start (`revocation.rs`).
            println!("revoked {device}");
            Ok(())
        }
    }
}

/// `linli check` of one community: whether its checkpoint (if any) reads back and equals the rebuild from its log
/// up to the checkpoint's sequence number, and the line to print.
fn check_one(
    conn: &mut db::Conn,
    community: CommunityId,
    rules: &linli_sync_core::state::Rules,
) -> Result<(bool, String), StartError> {
    // The row first, then the head: a running server that commits and checkpoints between the two reads moves the
    // head past the row read here, never the row past the head (which would read as UNREADABLE: beyond the head).
    let row = crate::checkpoint::latest(conn, community)?;
    let head = crate::community::head(conn, community)?;
    let Some(row) = row else {
        return Ok((
            true,
            format!("community {community}: no checkpoint (log at {head}): nothing to check"),
        ));
    };
    let stored = match crate::checkpoint::decode(&row, rules, head) {
        Ok(view) => view,
        Err(e) => {
            return Ok((
                false,
                format!(
                    "community {community}: checkpoint at {} UNREADABLE: {e}",
                    row.seq
                ),
            ));
        }
    };
    let mut rebuilt = crate::engine::View::empty(*rules);
    rebuilt.extend_from_log(conn, community, Some(row.seq))?;
    let (state_ok, index_ok) = (
        rebuilt.state == stored.state,
        rebuilt.log == stored.log && rebuilt.newest == stored.newest,
    );
    if rebuilt.last_seq != row.seq || !state_ok || !index_ok {
        let mut what = Vec::new();
        if rebuilt.last_seq != row.seq {
            what.push(format!("the log ends at {} before it", rebuilt.last_seq));
        }
        if !state_ok {
            what.push("state differs".to_string());
        }
        if !index_ok {
            what.push("log index differs".to_string());
        }
        return Ok((
            false,
            format!(
                "community {community}: checkpoint at {} MISMATCH: {}",
                row.seq,
                what.join(", ")
            ),
        ));
    }
    Ok((
        true,
        format!(
            "community {community}: checkpoint at {} matches the log ({} ops after it)",
            row.seq,
            head - row.seq
        ),
    ))
}

fn connect(config: &Config) -> Result<db::PooledConn, StartError> {
    let pool = db::open(&config.database_url, 1)?;
    Ok(pool
        .get()
        .map_err(|e| crate::store::StoreError::Pool(e.to_string()))?)
}

fn now() -> i64 {
    i64::try_from(crate::now_ms()).unwrap_or(i64::MAX)
}

/// The community a command acts on: the one named, or, when none is named, the only one there is. With several
/// communities a command that writes into one must name it, never fall back to the first (review of issue 11: a
/// fee import meant for one community would replace another's dues).
fn only_community(
    conn: &mut db::Conn,
    named: Option<CommunityId>,
) -> Result<CommunityId, StartError> {
    if let Some(c) = named {
        return Ok(c);
    }
    let all = crate::community::list(conn)?;
    match all.as_slice() {
        [only] => Ok(only.id),
        _ => Err(StartError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "there are {} communities: name one with --community (`linli community list`)",
                all.len()
            ),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{self, OpRow};
    use linli_sync_core::state::Rules;
    use linli_sync_core::test_support::community_year_of;

    /// `linli check` tells a checkpoint that reads back but is not what the log gives (a state with one op more, an
    /// index with one entry less) from one that is; the line names what differs.
    #[test]
    fn check_tells_a_checkpoint_that_differs_from_the_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir
            .path()
            .join("check.sqlite3")
            .to_string_lossy()
            .into_owned();
        let pool = db::open(&url, 2).expect("database");
        let mut conn = pool.get().expect("connection");
        let ops = community_year_of(4, 1_700_000_000_000, 1);
        let (logged, extra) = ops.split_at(600);
        let rows: Vec<OpRow> = logged
            .iter()
            .zip(1..)
            .map(|(op, seq)| {
                OpRow::new(
                    CommunityId::FIRST,
                    seq,
                    op,
                    &op.to_json(),
                    op.replica,
                    None,
                    0,
                )
            })
            .collect();
        db::sqlite::write_txn(&mut conn, |c| {
            store::append(c, &rows)?;
            crate::community::bump_head(c, CommunityId::FIRST, 600)
        })
        .expect("seeded");
        let mut view = crate::engine::View::empty(Rules::DEFAULT);
        view.extend_from_log(&mut conn, CommunityId::FIRST, Some(500))
            .expect("log");
        let good = crate::checkpoint::encode(CommunityId::FIRST, &view, 0);
        crate::checkpoint::save(&mut conn, &good, true).expect("saved");
        let (ok, line) =
            check_one(&mut conn, CommunityId::FIRST, &Rules::DEFAULT).expect("checked");
        assert!(ok, "{line}");
        assert!(
            line.contains("checkpoint at 500 matches the log (100 ops after it)"),
            "{line}"
        );

        let mut other = view.clone();
        other.state.apply(&extra[0]);
        let row = crate::checkpoint::encode(CommunityId::FIRST, &other, 0);
        crate::checkpoint::save(&mut conn, &row, true).expect("saved");
        let (ok, line) =
            check_one(&mut conn, CommunityId::FIRST, &Rules::DEFAULT).expect("checked");
        assert!(!ok, "{line}");
        assert!(line.ends_with("MISMATCH: state differs"), "{line}");

        let mut fewer = crate::engine::View::empty(Rules::DEFAULT);
        fewer
            .extend_from_log(&mut conn, CommunityId::FIRST, Some(499))
            .expect("log");
        let row = crate::checkpoint::Stored {
            state: good.state.clone(),
            log_index: crate::checkpoint::encode_index(&fewer.log, 500, view.newest),
            ..good
        };
        crate::checkpoint::save(&mut conn, &row, true).expect("saved");
        let (ok, line) =
            check_one(&mut conn, CommunityId::FIRST, &Rules::DEFAULT).expect("checked");
        assert!(!ok, "{line}");
        assert!(line.ends_with("MISMATCH: log index differs"), "{line}");
    }
}
