//! The operands of a step: `service name prog...` or `service { names }
//! prog...` as execlineb hands a block on. Never a panic, every name
//! returned passes the name rules, and prog is a tail of the input.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use s6i::{layout, name};

fuzz_target!(|data: &[u8]| {
    let words: Vec<OsString> = data
        .split(|&b| b == 0)
        .map(|w| OsString::from_vec(w.to_vec()))
        .collect();
    if let Ok((_, names, prog)) = layout::service_and_names(&words) {
        assert!(!names.is_empty());
        assert!(names.iter().all(|n| name::valid(n.as_encoded_bytes())));
        assert_eq!(prog, &words[words.len() - prog.len()..]);
    }
});
