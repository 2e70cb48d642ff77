//! s6i-unlink: take an instance out of the nested scan directory and
//! wait for its supervisor to exit.

use std::ffi::OsString;

use crate::delete;
use crate::diag::Error;

pub const USAGE: &str = "s6i-unlink [ -e ] [ -X ] [ -t timeout ] service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut wait = true;
    let n = super::names::parse(&argv, "eXt:", |c, _| match c {
        b'X' => {
            wait = false;
            Ok(())
        }
        _ => Err(Error::Usage),
    })?;
    if !n.names.is_empty() {
        delete::unlink(&n.service, &n.list(), wait, n.deadline())?;
    }
    Ok(n.next())
}
