//! The op wire parser (`sync-core`): any text either is refused with a typed error or reads as an op whose
//! canonical JSON reads back as the same op, byte for byte the same text, by both text routes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linli_sync_core::op::Op;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let plain = Op::from_json(text);
    match Op::from_json_canonical(text) {
        Ok((op, json)) => {
            assert_eq!(
                plain.as_ref(),
                Ok(&op),
                "from_json and from_json_canonical agree"
            );
            assert_eq!(op.to_json(), json, "the canonical text is to_json");
            let again = Op::from_json_canonical(&json).expect("canonical text reads back");
            assert_eq!(again, (op, json), "canonical text is a fixed point");
        }
        Err(e) => assert_eq!(plain, Err(e), "both routes refuse alike"),
    }
});
