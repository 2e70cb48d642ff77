//! s6i-args: parse an execline script's own arguments (from the
//! environment) and substitute them, word for word, into the rest of
//! the script.

use std::ffi::OsString;

use std::os::unix::ffi::OsStrExt;

use crate::args::{self, Group};
use crate::diag::{self, Error, EXIT_USAGE};
use crate::getopt::Getopt;
use crate::name;

pub const USAGE: &str = "s6i-args -u usage [ -o optspec ] [ -n names ] [ -r rest | -R rest ] [ -N name ] prog...";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let (mut groups, mut names): (Vec<Group>, Vec<Vec<u8>>) = (Vec::new(), Vec::new());
    let (mut usage, mut instance, mut rest) = (None, None, None);
    let mut opts = Getopt::new(&argv, "u:o:n:r:R:N:");
    for opt in opts.by_ref() {
        match opt? {
            (b'u', Some(v)) => usage = Some(v.to_owned()),
            (b'o', Some(v)) => groups = args::parse_spec(v.as_encoded_bytes()).ok_or(Error::Usage)?,
            (b'n', Some(v)) => names = args::parse_names(v.as_encoded_bytes()).ok_or(Error::Usage)?,
            (c @ (b'r' | b'R'), Some(v)) => {
                let var = args::parse_names(v.as_encoded_bytes())
                    .filter(|r| r.len() == 1)
                    .ok_or(Error::Usage)?
                    .remove(0);
                rest = Some((var, usize::from(c == b'r')));
            }
            (b'N', Some(v)) => instance = Some(v.as_encoded_bytes().to_vec()),
            _ => return Err(Error::Usage),
        }
    }
    let usage = usage.ok_or(Error::Usage)?;
    let instance = match instance {
        Some(n) => Some(names.iter().position(|m| *m == n).ok_or(Error::Usage)?),
        None => None,
    };
    let script_args = args::positionals().ok_or_else(|| {
        Error::new(
            EXIT_USAGE,
            "no positional parameters in the environment: run me from execlineb",
        )
    })?;
    // From here on, this step and the next ones speak as the script.
    let prog = args::usage_prog(&usage);
    diag::set_prog(prog);
    std::env::set_var(diag::SCRIPT_PROG_VAR, std::ffi::OsStr::from_bytes(prog));
    std::env::set_var(diag::SCRIPT_USAGE_VAR, &usage);
    let rest = rest.as_ref().map(|(var, at_least)| args::Rest {
        var,
        at_least: *at_least,
    });
    let vars = args::parse(&groups, &names, rest, &script_args).map_err(|e| match e {
        Error::Usage => Error::UsageLine(usage.as_encoded_bytes().to_vec()),
        e => e,
    })?;
    if let Some(i) = instance {
        name::check(vars[i].1[0].as_encoded_bytes())?;
    }
    Ok(args::substitute(opts.rest(), &vars))
}
