//! s6i-wait-supervise: have the nested scanner start a supervisor on a
//! linked instance, and wait until it runs.

use std::ffi::OsString;

use crate::create::{self, Start};
use crate::diag::Error;
use crate::getopt::{number, Getopt};
use crate::layout;
use crate::wait::deadline;

pub const USAGE: &str = "s6i-wait-supervise [ -d | -D ] [ -t timeout ] service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let (mut start, mut timeout) = (Start::Up, 0);
    let mut opts = Getopt::new(&argv, "dDt:");
    for opt in opts.by_ref() {
        match opt? {
            (c @ (b'd' | b'D'), _) => start.set(c),
            (b't', Some(v)) => timeout = number(v)?,
            _ => return Err(Error::Usage),
        }
    }
    let (service, names, prog) = layout::service_and_names(opts.rest())?;
    let names: Vec<&std::ffi::OsStr> = names.iter().map(|n| n.as_os_str()).collect();
    create::await_supervisors(&service, &names, start, deadline(timeout))?;
    Ok(prog.to_vec())
}
