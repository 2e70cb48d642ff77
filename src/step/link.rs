//! s6i-link: make a cloned instance visible to the nested scanner.

use std::ffi::OsString;

use crate::create::{self, Start};
use crate::diag::Error;
use crate::fifodir::EventDir;
use crate::getopt::Getopt;
use crate::layout;

pub const USAGE: &str = "s6i-link [ -d | -D ] [ -f ] [ -P ] service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let (mut start, mut event) = (Start::Up, EventDir::default());
    let mut opts = Getopt::new(&argv, "dDfP");
    for opt in opts.by_ref() {
        match opt? {
            (c @ (b'd' | b'D'), _) => start.set(c),
            (b'f', _) => event.force = true,
            (b'P', _) => event.public = true,
            _ => return Err(Error::Usage),
        }
    }
    let (service, names, prog) = layout::service_and_names(opts.rest())?;
    let names: Vec<&std::ffi::OsStr> = names.iter().map(|n| n.as_os_str()).collect();
    create::link(&service, &names, start, event)?;
    Ok(prog.to_vec())
}
