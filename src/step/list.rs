//! s6i-list: print the names of an instanced service's instances.

use std::ffi::OsString;

use std::os::unix::ffi::OsStrExt;

use crate::diag::{self, Error};
use crate::getopt::{operands, Getopt};
use crate::layout::Service;

pub const USAGE: &str = "s6i-list service";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut opts = Getopt::new(&argv, "");
    if let Some(opt) = opts.next() {
        opt?;
        return Err(Error::Usage);
    }
    let (ops, _) = operands(opts.rest(), 1)?;
    let service = Service::new(&ops[0])?;
    service.check_live()?;
    let mut out = Vec::new();
    for name in service.instance_names()? {
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    diag::write_stdout(&out)?;
    Ok(Vec::new())
}
