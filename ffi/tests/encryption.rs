//! Encryption at rest on real files: a replica opened with a key is encrypted by SQLCipher (the `sqlcipher`
//! feature), a wrong or missing key is a typed error that leaves the file as it was, the file and its WAL hold
//! none of the names written, and a re-key moves the file to the new key. In a build without the feature, a key
//! is refused as `Invalid` rather than silently giving a plain file.
//!
//! Run with encryption: `CARGO_TARGET_DIR=target/sqlcipher cargo test -p linli-ffi --features sqlcipher --test
//! encryption` (scripts/test does, after the plain run).
#![cfg_attr(
    not(feature = "sqlcipher"),
    expect(
        dead_code,
        reason = "the helpers that write and read encrypted files serve only the build with SQLCipher"
    )
)]

use linli_ffi::{DeviceIdentity, Replica, ReplicaError, Role, VisitInput};
use linli_sync_core::prelude::{
    DriftPolicy, GridId, GridOp, Hlc, HlcClock, Household, HouseholdId, MemberRole, Op, OpBody,
    PROTOCOL_VERSION, ReplicaId, SyncResponse, UserId, Writer,
};
use std::path::{Path, PathBuf};

const T0: u64 = 1_764_288_000_000;
/// Names that must not be readable in an encrypted file: a resident's name, a note, a grid cell's name.
const RESIDENT: &str = "王秀英";
const NOTE: &str = "张桂兰头晕";
const CELL: &str = "第三网格";
const KEY: [u8; 32] = [0x5a; 32];
const OTHER_KEY: [u8; 32] = [0xa5; 32];

struct World {
    dir: PathBuf,
    grid: GridId,
    household: HouseholdId,
    butler: UserId,
    device: ReplicaId,
}

impl World {
    fn new(name: &str) -> World {
        let dir = std::env::temp_dir().join(format!("linli-enc-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        World {
            dir,
            grid: GridId::random(),
            household: HouseholdId::random(),
            butler: UserId::random(),
            device: ReplicaId::random(),
        }
    }

    fn identity(&self) -> DeviceIdentity {
        DeviceIdentity {
            device_id: self.device.to_string(),
            user_id: self.butler.to_string(),
            role: Role::Volunteer,
        }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn open(&self, file: &str, key: Option<&[u8]>) -> Result<Replica, ReplicaError> {
        Replica::open_at_with_key(&self.path(file), &self.identity(), key)
    }

    /// A grid cell with one elderly resident assigned to the butler, as a sync answer.
    fn setup_answer(&self) -> Vec<u8> {
        let mut admin = Writer::new(
            ReplicaId::random(),
            UserId::random(),
            HlcClock::new(DriftPolicy::DEFAULT),
        );
        let g = self.grid;
        let ops: Vec<Op> = vec![
            admin.op(
                T0,
                OpBody::Grid(
                    g,
                    GridOp::Create {
                        name: CELL.into(),
                        community: "幸福里社区".into(),
                    },
                ),
            ),
            admin.op(
                T0,
                OpBody::Grid(
                    g,
                    GridOp::AddHousehold {
                        household: self.household,
                        details: Household {
                            building: "3".into(),
                            unit: "2".into(),
                            room: "501".into(),
                            elderly_alone: true,
                            contact_name: Some(RESIDENT.into()),
                        },
                    },
                ),
            ),
            admin.op(
                T0,
                OpBody::Grid(
                    g,
                    GridOp::AddMember {
                        user: self.butler,
                        role: MemberRole::Butler,
                    },
                ),
            ),
            admin.op(
                T0,
                OpBody::Grid(
                    g,
                    GridOp::AssignVisit {
                        household: self.household,
                        butler: self.butler,
                    },
                ),
            ),
        ];
        serde_json::to_vec(&SyncResponse {
            protocol: PROTOCOL_VERSION,
            acked: vec![],
            ops,
            cursor: 4,
            has_more: false,
            server_time: Hlc::at(T0),
        })
        .expect("json")
    }

    fn visit(&self, notes: &str) -> VisitInput {
        VisitInput {
            grid_id: self.grid.to_string(),
            household_id: self.household.to_string(),
            seen: true,
            health: None,
            needs: vec![],
            notes: notes.into(),
        }
    }

    /// Opens `file` with `key`, receives the cell and records one visit with `NOTE`; returns the open replica.
    fn populate(&self, file: &str, key: Option<&[u8]>) -> Replica {
        let replica = self.open(file, key).expect("open");
        replica
            .apply_sync_response(self.setup_answer())
            .expect("apply");
        replica.record_visit(self.visit(NOTE)).expect("visit");
        replica
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn wal(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[cfg(feature = "sqlcipher")]
mod encrypted {
    use super::*;

    fn is_wrong_key(r: Result<Replica, ReplicaError>) -> bool {
        matches!(r, Err(ReplicaError::WrongKey { .. }))
    }

    #[test]
    fn the_right_key_opens_the_replica_and_keeps_its_data() {
        let w = World::new("right");
        let replica = w.populate("r.db", Some(&KEY));
        replica.close();
        let replica = w.open("r.db", Some(&KEY)).expect("reopen with the key");
        let households = replica.households_to_visit(0).expect("households");
        assert_eq!(households.len(), 1);
        assert_eq!(households[0].contact_name.as_deref(), Some(RESIDENT));
        assert_eq!(replica.sync_status().expect("status").unsynced_ops, 1);
    }

    #[test]
    fn neither_the_file_nor_its_wal_holds_a_written_name() {
        let w = World::new("bytes");
        // The control: the same content in a plain file is readable, so the search below can fail.
        let plain = w.populate("plain.db", None);
        let plain_bytes = [read(&w.path("plain.db")), read(&wal(&w.path("plain.db")))].concat();
        for name in [RESIDENT, NOTE, CELL] {
            assert!(contains(&plain_bytes, name), "the plain file holds {name}");
        }
        plain.close();

        let replica = w.populate("enc.db", Some(&KEY));
        // While open, the last writes sit in the WAL; look at both.
        let main = read(&w.path("enc.db"));
        let wal_bytes = read(&wal(&w.path("enc.db")));
        assert!(!wal_bytes.is_empty(), "the writes are in the WAL");
        for name in [RESIDENT, NOTE, CELL] {
            assert!(!contains(&main, name), "the file holds {name}");
            assert!(!contains(&wal_bytes, name), "the WAL holds {name}");
        }
        // Not a SQLite file to anyone without the key: its header is not SQLite's.
        assert!(!main.starts_with(b"SQLite format 3\0"));
        replica.close();
        let closed = read(&w.path("enc.db"));
        for name in [RESIDENT, NOTE, CELL] {
            assert!(!contains(&closed, name), "the closed file holds {name}");
        }
    }

    #[test]
    fn a_wrong_or_missing_key_is_wrong_key_and_changes_nothing() {
        let w = World::new("wrong");
        w.populate("w.db", Some(&KEY)).close();
        let path = w.path("w.db");
        let before = read(&path);
        let wal_before = wal(&path).exists();

        assert!(is_wrong_key(w.open("w.db", Some(&OTHER_KEY))));
        assert!(is_wrong_key(w.open("w.db", None)));
        assert_eq!(read(&path), before, "the file is unchanged");
        assert_eq!(wal(&path).exists(), wal_before, "no WAL was started");

        // A plain replica opened with a key is refused the same way, and stays plain and readable.
        w.populate("plain.db", None).close();
        let plain_before = read(&w.path("plain.db"));
        assert!(is_wrong_key(w.open("plain.db", Some(&KEY))));
        assert_eq!(read(&w.path("plain.db")), plain_before);

        let replica = w
            .open("w.db", Some(&KEY))
            .expect("the right key still opens it");
        assert_eq!(replica.households_to_visit(0).expect("households").len(), 1);
    }

    #[test]
    fn a_key_must_be_32_bytes() {
        let w = World::new("len");
        let r = w.open("l.db", Some(&KEY[..16]));
        assert!(
            matches!(r, Err(ReplicaError::Invalid { ref reason }) if reason.contains("32 bytes"))
        );
        assert!(!w.path("l.db").exists(), "nothing was created");
    }

    #[test]
    fn rekey_moves_the_file_to_the_new_key() {
        let w = World::new("rekey");
        let replica = w.populate("k.db", Some(&KEY));
        replica.rekey(OTHER_KEY.to_vec()).expect("rekey");
        // Writes after the re-key go on under the new key.
        replica
            .record_visit(w.visit("复诊"))
            .expect("visit after rekey");
        replica.close();

        assert!(
            is_wrong_key(w.open("k.db", Some(&KEY))),
            "the old key fails"
        );
        let reopened = w
            .open("k.db", Some(&OTHER_KEY))
            .expect("the new key opens it");
        assert_eq!(reopened.sync_status().expect("status").unsynced_ops, 2);
        let bytes = read(&w.path("k.db"));
        assert!(!contains(&bytes, NOTE) && !contains(&bytes, RESIDENT));
    }

    #[test]
    fn a_plain_replica_cannot_be_rekeyed() {
        let w = World::new("plainrekey");
        let replica = w.populate("p.db", None);
        assert!(matches!(
            replica.rekey(KEY.to_vec()),
            Err(ReplicaError::Invalid { .. })
        ));
        replica.close();
        // Still plain: opens without a key.
        assert!(w.open("p.db", None).is_ok());
    }
}

#[cfg(not(feature = "sqlcipher"))]
mod plain_build {
    use super::*;

    #[test]
    fn a_key_given_to_a_build_without_encryption_is_invalid_and_creates_no_file() {
        let w = World::new("nokey");
        let r = w.open("n.db", Some(&KEY));
        assert!(
            matches!(r, Err(ReplicaError::Invalid { ref reason }) if reason.contains("sqlcipher")),
            "{r:?}"
        );
        // Nothing was written: no plain file in place of the encrypted one the app asked for.
        assert_eq!(read(&w.path("n.db")), Vec::<u8>::new());
        let replica = w.open("n.db", None).expect("without a key it opens");
        assert!(matches!(
            replica.rekey(KEY.to_vec()),
            Err(ReplicaError::Invalid { .. })
        ));
    }
}

#[test]
fn a_file_that_is_not_a_replica_is_wrong_key_not_storage() {
    // What a plain build sees of an encrypted file, and any build of random bytes: SQLite's "not a database".
    let w = World::new("garbage");
    std::fs::write(w.path("g.db"), vec![0x42u8; 8192]).expect("write");
    assert!(matches!(
        w.open("g.db", None),
        Err(ReplicaError::WrongKey { .. })
    ));
    assert_eq!(read(&w.path("g.db")), vec![0x42u8; 8192]);
}
