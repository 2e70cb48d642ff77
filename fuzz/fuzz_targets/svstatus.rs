//! The supervise/status decoder: any bytes either decode or are refused,
//! and a decoded record prints every field and both summary lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s6i::svstatus::{Status, View, FIELDS};

fuzz_target!(|data: &[u8]| {
    let Some(st) = Status::decode(data) else {
        return;
    };
    let view = View::new(st, data.first().is_some_and(|b| b & 1 == 1));
    for numeric in [false, true] {
        assert!(!view.summary(numeric).is_empty());
    }
    for &(_, f) in &FIELDS {
        assert!(!view.field(f).is_empty());
    }
});
