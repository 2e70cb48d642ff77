//! s6i-clone: copy an instanced service's template into new instance
//! directories, whole or not at all.

use std::ffi::OsString;

use crate::diag::Error;
use crate::getopt::{number, Getopt};
use crate::wait::deadline;
use crate::{create, layout};

pub const USAGE: &str = "s6i-clone [ -t timeout ] service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut timeout = 0;
    let mut opts = Getopt::new(&argv, "t:");
    for opt in opts.by_ref() {
        match opt? {
            (b't', Some(v)) => timeout = number(v)?,
            _ => return Err(Error::Usage),
        }
    }
    let (service, names, prog) = layout::service_and_names(opts.rest())?;
    let names: Vec<&std::ffi::OsStr> = names.iter().map(|n| n.as_os_str()).collect();
    create::clone(&service, &names, deadline(timeout))?;
    Ok(prog.to_vec())
}
