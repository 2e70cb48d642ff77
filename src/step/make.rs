//! s6i-make: write an instanced service directory from a template (or
//! s6-rc source definitions for one), whole or not at all, then chain.

use std::ffi::OsString;

use std::path::Path;

use crate::diag::Error;
use crate::getopt::{operands, Getopt};
use crate::maker::{Options, OPTSTRING, PROGRAMS};

pub const USAGE: &str = "s6i-make [ -c max ] [ -u user ] [ -l loguser ] [ -L logdir ] [ -t stamptype ] [ -n nfiles ] [ -s filesize ] [ -S maxsize ] [ -P prefix ] [ -r service[/logger[/pipeline]] ] template dir [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut options = Options::default();
    let mut opts = Getopt::new(&argv, OPTSTRING);
    for opt in opts.by_ref() {
        match opt? {
            (c, Some(v)) => options.set(c, v)?,
            _ => return Err(Error::Usage),
        }
    }
    let (ops, prog) = operands(opts.rest(), 2)?;
    let maker = options.check()?;
    maker.make(&PROGRAMS, Path::new(&ops[0]), Path::new(&ops[1]))?;
    Ok(prog.to_vec())
}
