//! The snapshot reader (`sync_core::sync::Snapshot`, what a new phone bootstraps from): any bytes either are
//! refused or read as a snapshot that writes and reads back as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linli_sync_core::sync::Snapshot;

fuzz_target!(|data: &[u8]| {
    if let Ok(snapshot) = serde_json::from_slice::<Snapshot>(data) {
        let json = serde_json::to_vec(&snapshot).expect("a snapshot writes");
        let again: Snapshot = serde_json::from_slice(&json).expect("a written snapshot reads back");
        assert_eq!(again, snapshot);
    }
});
