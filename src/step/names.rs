//! The command line shared by the steps that act on a list of instances
//! (s6i-clone, s6i-link, s6i-wait-supervise, s6i-unlink, s6i-remove,
//! s6i-env -S, s6i-change): options, then `service name|{ name... }`,
//! then prog. The options they share are read here, the same way for
//! each, and only by the steps whose option string names them:
//!
//! - `-d`, `-D`: how a new instance starts (the last one wins);
//! - `-t timeout`: milliseconds, 0 (the default) for none;
//! - `-e`: an empty word where the names go is an empty list (a script's
//!   `{ $names }` with no names), and the step does nothing; without
//!   it, it is an empty name and refused, as s6's programs refuse one;
//! - `-v`: print `+name` or `-name`, a line each, for what was done.
//!
//! The step's other letters are handed to its own function.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use crate::create::Start;
use crate::diag::Error;
use crate::getopt::{number, Getopt};
use crate::layout::{self, Service};
use crate::wait::deadline;

/// A parsed command line.
pub struct Names<'a> {
    pub start: Start,
    pub timeout: u32,
    pub verbose: bool,
    pub service: Service,
    pub names: Vec<OsString>,
    pub prog: &'a [OsString],
}

impl Names<'_> {
    /// The names, borrowed as the library takes them.
    pub fn list(&self) -> Vec<&OsStr> {
        self.names.iter().map(|n| n.as_os_str()).collect()
    }

    /// When the step's waits end.
    pub fn deadline(&self) -> Option<Instant> {
        deadline(self.timeout)
    }

    /// The rest of the chain.
    pub fn next(&self) -> Vec<OsString> {
        self.prog.to_vec()
    }
}

/// The shared letters, as read so far.
#[derive(Clone, Copy, Debug)]
pub struct Shared {
    pub start: Start,
    pub timeout: u32,
    pub verbose: bool,
    pub empty: bool,
}

impl Default for Shared {
    fn default() -> Shared {
        Shared {
            start: Start::Up,
            timeout: 0,
            verbose: false,
            empty: false,
        }
    }
}

impl Shared {
    /// Take option `c` (with its argument `v`) if it is a shared letter
    /// that `optstring` names: Ok(true). Also for the steps whose
    /// operands are not a list of names (s6i-sync).
    pub fn take(&mut self, optstring: &str, c: u8, v: Option<&OsStr>) -> Result<bool, Error> {
        if !optstring.contains(c as char) {
            return Ok(false);
        }
        match (c, v) {
            (b'd' | b'D', _) => self.start.set(c),
            (b't', Some(v)) => self.timeout = number(v)?,
            (b'v', _) => self.verbose = true,
            (b'e', _) => self.empty = true,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Parse `argv` with getopt's `optstring`; the shared letters it names
/// are read here, any other goes to `other` (which refuses it with
/// `Error::Usage` if it is not the step's).
pub fn parse<'a>(
    argv: &'a [OsString],
    optstring: &'a str,
    mut other: impl FnMut(u8, Option<&'a OsStr>) -> Result<(), Error>,
) -> Result<Names<'a>, Error> {
    let mut shared = Shared::default();
    let mut opts = Getopt::new(argv, optstring);
    for opt in opts.by_ref() {
        let (c, v) = opt?;
        if !shared.take(optstring, c, v)? {
            other(c, v)?;
        }
    }
    let rest = opts.rest();
    let (service, names, prog) = match rest {
        [service, first, prog @ ..] if shared.empty && first.is_empty() => (Service::new(service)?, Vec::new(), prog),
        _ => layout::service_and_names(rest)?,
    };
    Ok(Names {
        start: shared.start,
        timeout: shared.timeout,
        verbose: shared.verbose,
        service,
        names,
        prog,
    })
}

/// A step that takes no letter of its own.
pub fn none(_: u8, _: Option<&OsStr>) -> Result<(), Error> {
    Err(Error::Usage)
}

/// `+name` or `-name`, a line each, on standard output.
pub fn say(sign: u8, names: &[&OsStr]) -> Result<(), Error> {
    let mut out = Vec::new();
    for name in names {
        out.push(sign);
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    crate::diag::write_stdout(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn shared_letters_and_empty_lists() {
        let argv = v(&["-dt", "5", "-v", "svc", " a", " b", "", "prog"]);
        let n = parse(&argv, "dDt:ve", none).unwrap();
        assert_eq!((n.start, n.timeout, n.verbose), (Start::Down, 5, true));
        assert_eq!(n.names, v(&["a", "b"]));
        assert_eq!(n.prog, &v(&["prog"])[..]);
        // An empty block: a list with -e, an empty name without.
        let argv = v(&["-e", "svc", "", "prog"]);
        let n = parse(&argv, "e", none).unwrap();
        assert!(n.names.is_empty());
        assert_eq!(n.prog, &v(&["prog"])[..]);
        assert_eq!(
            parse(&v(&["svc", "", "prog"]), "e", none).err().map(|e| e.code()),
            Some(100)
        );
        // A letter the step does not take.
        assert_eq!(parse(&v(&["-d", "svc", "a"]), "t:", none).err(), Some(Error::Usage));
        assert_eq!(parse(&v(&["-e", "svc", "a"]), "t:", none).err(), Some(Error::Usage));
    }
}
