//! The instance name rules: the check and the predicate agree, and what
//! passes can never leave `instances/` or hide from a listing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s6i::name;

fuzz_target!(|data: &[u8]| {
    let ok = name::check(data).is_ok();
    assert_eq!(ok, name::valid(data));
    if ok {
        assert!(!data.is_empty() && data[0] != b'.' && !data.contains(&b'/'));
        assert!(!data.iter().any(|b| b" \t\n\r\x0c".contains(b)));
    }
});
