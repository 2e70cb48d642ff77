//! s6i-ensure: check that an instanced service is live, and, for a
//! create, that it has a template and an `instances/` directory.

use std::ffi::OsString;

use crate::diag::Error;
use crate::getopt::{operands, Getopt};
use crate::layout::Service;

pub const USAGE: &str = "s6i-ensure [ -c ] service [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut create = false;
    let mut opts = Getopt::new(&argv, "c");
    for opt in opts.by_ref() {
        match opt? {
            (b'c', _) => create = true,
            _ => return Err(Error::Usage),
        }
    }
    let (ops, prog) = operands(opts.rest(), 1)?;
    let service = Service::new(&ops[0])?;
    service.check_live()?;
    if create {
        service.template()?;
        service.make_instances_dir()?;
    }
    Ok(prog.to_vec())
}
