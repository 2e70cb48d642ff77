//! The option parser: whatever the words and the option string, it ends,
//! never panics, and leaves as operands a tail of its input.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use s6i::getopt::Getopt;

fuzz_target!(|data: &[u8]| {
    let mut words = data.split(|&b| b == 0);
    let optstring: String = words
        .next()
        .unwrap_or_default()
        .iter()
        .filter(|b| b.is_ascii_alphanumeric() || **b == b':')
        .map(|&b| b as char)
        .collect();
    let argv: Vec<OsString> = words.map(|w| OsString::from_vec(w.to_vec())).collect();
    let mut g = Getopt::new(&argv, &optstring);
    for _ in g.by_ref() {}
    let rest = g.rest();
    assert!(rest.len() <= argv.len());
    assert_eq!(rest, &argv[argv.len() - rest.len()..]);
});
