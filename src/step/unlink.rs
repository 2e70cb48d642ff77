//! s6i-unlink: take an instance out of the nested scan directory and
//! wait for its supervisor to exit.

use std::ffi::OsString;

use crate::diag::Error;
use crate::getopt::{number, Getopt};
use crate::wait::deadline;
use crate::{delete, layout};

pub const USAGE: &str = "s6i-unlink [ -X ] [ -t timeout ] service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let (mut wait, mut timeout) = (true, 0);
    let mut opts = Getopt::new(&argv, "Xt:");
    for opt in opts.by_ref() {
        match opt? {
            (b'X', _) => wait = false,
            (b't', Some(v)) => timeout = number(v)?,
            _ => return Err(Error::Usage),
        }
    }
    let (service, names, prog) = layout::service_and_names(opts.rest())?;
    let names: Vec<&std::ffi::OsStr> = names.iter().map(|n| n.as_os_str()).collect();
    delete::unlink(&service, &names, wait, deadline(timeout))?;
    Ok(prog.to_vec())
}
