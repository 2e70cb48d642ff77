//! s6i-waves: run a block of steps once per wave of names, in this same
//! process: `s6i-waves [ -p max ] { name... } { prog... } rest...`
//! splits the names into waves of at most `max` (all in one when `max`
//! is 0 or not given; none at all when there are no names). It executes
//! the block with its words `$wave` replaced by the first wave's names
//! (one word each, behind the block's leading spaces, as s6i-args
//! substitutes), followed by what comes next: this step again with the
//! names left, or, after the last wave, rest. The block must chain, as
//! every step does: its last program executes the words after it.
//!
//! No fork: a chain killed, even by SIGKILL, leaves nothing running
//! behind it, and a signal reaches the step that is waiting (which
//! undoes its wave's creates, see s6i-wait-supervise) without being
//! passed on. A step that fails stops the chain there, with its exit
//! code; the waves before it stay done.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::diag::{Error, EXIT_SYS};
use crate::getopt::{number, Getopt};

pub const USAGE: &str = "s6i-waves [ -p max ] { name... } { prog... } [ rest... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut max = None;
    let mut opts = Getopt::new(&argv, "p:");
    for opt in opts.by_ref() {
        match opt? {
            (b'p', Some(v)) => max = Some(v),
            _ => return Err(Error::Usage),
        }
    }
    let size = match max {
        Some(v) => number(v)? as usize,
        None => 0,
    };
    let (names, after) = block(opts.rest())?;
    for name in &names {
        crate::name::check(name.as_bytes())?;
    }
    let (prog, rest) = block(after)?;
    if prog.is_empty() {
        return Err(Error::Usage);
    }
    if names.is_empty() {
        return Ok(rest.to_vec());
    }
    let size = if size == 0 { names.len() } else { size };
    let (wave, left) = names.split_at(size.min(names.len()));
    let mut next = crate::args::substitute(&prog, &[(b"wave".to_vec(), wave.to_vec())]);
    if left.is_empty() {
        next.extend_from_slice(rest);
        return Ok(next);
    }
    // This step again, for the waves left: the one beside the running
    // program, as the installed scripts name it.
    let me = std::env::current_exe()
        .map_err(|e| Error::new(EXIT_SYS, format!("unable to find myself: {e}")))?
        .with_file_name("s6i-waves");
    next.push(me.into_os_string());
    if let Some(v) = max {
        next.extend(["-p".into(), v.to_owned()]);
    }
    next.extend(enclose(left));
    next.extend(enclose(&prog));
    next.extend_from_slice(rest);
    Ok(next)
}

/// An execline block at the start of `words`, as execlineb hands it on
/// (each word behind a space, an empty word to close): its words, one
/// space taken off each, and what follows it.
fn block(words: &[OsString]) -> Result<(Vec<OsString>, &[OsString]), Error> {
    let end = words.iter().position(|w| w.is_empty()).ok_or(Error::Usage)?;
    let inside = words[..end]
        .iter()
        .map(|w| match w.as_bytes() {
            [b' ', rest @ ..] => Ok(OsString::from_vec(rest.to_vec())),
            _ => Err(Error::Usage),
        })
        .collect::<Result<_, _>>()?;
    Ok((inside, &words[end + 1..]))
}

/// `words` as a block again.
fn enclose(words: &[OsString]) -> Vec<OsString> {
    let mut out: Vec<OsString> = words
        .iter()
        .map(|w| OsString::from_vec([b" ", w.as_bytes()].concat()))
        .collect();
    out.push(OsString::new());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn blocks() {
        let words = v(&[" a", " b", "", " prog", "  $wave", " ", "", "rest"]);
        let (names, after) = block(&words).unwrap();
        assert_eq!(names, v(&["a", "b"]));
        let (prog, rest) = block(after).unwrap();
        assert_eq!(prog, v(&["prog", " $wave", ""]));
        assert_eq!(rest, &v(&["rest"])[..]);
        assert_eq!(enclose(&prog), v(&[" prog", "  $wave", " ", ""]));
        assert_eq!(block(&v(&["", "x"])).unwrap().0, v(&[]));
        assert_eq!(block(&v(&[" a"])).err(), Some(Error::Usage));
        assert_eq!(block(&v(&["a", ""])).err(), Some(Error::Usage));
    }

    #[test]
    fn one_wave_then_the_step_again() {
        let argv = v(&[
            "-p", "2", " a", " b", " c", "", " step", " {", "  $wave", " ", "", "rest",
        ]);
        let next = run(argv).unwrap();
        assert_eq!(&next[..5], &v(&["step", "{", " a", " b", ""])[..]);
        assert!(next[5].to_str().unwrap().ends_with("/s6i-waves"));
        assert_eq!(
            &next[6..],
            &v(&["-p", "2", " c", "", " step", " {", "  $wave", " ", "", "rest"])[..]
        );
        let last = run(v(&["--", " a", "", " step", " $wave", "", "rest"])).unwrap();
        assert_eq!(last, v(&["step", "a", "rest"]));
        assert_eq!(run(v(&["", " step", "", "rest"])).unwrap(), v(&["rest"]));
    }
}
