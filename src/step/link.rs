//! s6i-link: make a cloned instance visible to the nested scanner.

use std::ffi::OsString;

use crate::create;
use crate::diag::Error;
use crate::fifodir::EventDir;

pub const USAGE: &str = "s6i-link [ -e ] [ -d | -D ] [ -f ] [ -P ] service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut event = EventDir::default();
    let n = super::names::parse(&argv, "edDfP", |c, _| {
        match c {
            b'f' => event.force = true,
            b'P' => event.public = true,
            _ => return Err(Error::Usage),
        }
        Ok(())
    })?;
    if !n.names.is_empty() {
        create::link(&n.service, &n.list(), n.start, event)?;
    }
    Ok(n.next())
}
