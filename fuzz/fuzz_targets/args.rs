//! s6i-args: any spec, any names, any script arguments. Parsing never
//! panics, and substitution puts each variable's words in whole, never
//! splitting or joining a user's word.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use s6i::args;

fuzz_target!(|data: &[u8]| {
    let mut words = data.split(|&b| b == 0);
    let spec = words.next().unwrap_or_default();
    let names = words.next().unwrap_or_default();
    let argv: Vec<OsString> = words.map(|w| OsString::from_vec(w.to_vec())).collect();
    let (Some(groups), Some(names)) = (args::parse_spec(spec), args::parse_names(names)) else {
        return;
    };
    let Ok(vars) = args::parse(&groups, &names, None, &argv) else {
        return;
    };
    // A name given twice is the spec's mistake, not a user's word.
    let mut seen: Vec<&[u8]> = vars.iter().map(|(v, _)| v.as_slice()).collect();
    seen.sort();
    seen.dedup();
    if seen.len() != vars.len() {
        return;
    }
    let script: Vec<OsString> = vars
        .iter()
        .map(|(v, _)| OsString::from_vec([b"$".as_slice(), v].concat()))
        .collect();
    let out = args::substitute(&script, &vars);
    let expected: Vec<OsString> = vars.iter().flat_map(|(_, w)| w.iter().cloned()).collect();
    assert_eq!(out, expected);
});
