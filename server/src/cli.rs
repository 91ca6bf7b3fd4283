//! The `linli` command line: `serve`, and the administration commands that work on the database directly
//! (`user add`, `user unthrottle`, `device enrol`, `token revoke`), with the same configuration as the server.

use clap::{Parser, Subcommand};
use linli_sync_core::ids::ReplicaId;
use linli_sync_core::rights::Role;

use crate::app::{self, StartError};
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
        /// `admin`, `grid_worker` or `volunteer`.
        #[arg(long, value_parser = parse_role)]
        role: Role,
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

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|()| "expected admin, grid_worker or volunteer".to_string())
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
                    password,
                },
        } => {
            let hash = password
                .as_deref()
                .map(crate::password::hash_now)
                .transpose()
                .map_err(|e| identity::IdentityError::Hash(e.to_string()))?;
            let mut conn = connect(&config)?;
            let user = identity::add_user(&mut conn, &username, role, hash.as_deref(), now())?;
            println!("{}", user.id);
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
            command: FeesCommand::Import { file, dry_run },
        } => {
            let text = std::fs::read_to_string(&file)?;
            let pool = db::open(&config.database_url, 2)?;
            let engine = crate::engine::Engine::open(pool.clone(), app::rules(&config))?;
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
                    let n = crate::ledger::import_dues(&mut conn, &dues, now())?;
                    println!("imported {n} due(s)");
                    Ok(())
                }
            }
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

fn connect(config: &Config) -> Result<db::PooledConn, StartError> {
    let pool = db::open(&config.database_url, 1)?;
    Ok(pool
        .get()
        .map_err(|e| crate::store::StoreError::Pool(e.to_string()))?)
}

fn now() -> i64 {
    i64::try_from(crate::now_ms()).unwrap_or(i64::MAX)
}
