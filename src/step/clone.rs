//! s6i-clone: copy an instanced service's template into new instance
//! directories, whole or not at all.

use std::ffi::OsString;

use crate::create;
use crate::diag::Error;

pub const USAGE: &str = "s6i-clone [ -e ] [ -p ] [ -t timeout ] service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut at = create::CopyAt::Hidden;
    let n = super::names::parse(&argv, "ept:", |c, _| match c {
        b'p' => {
            at = create::CopyAt::Name;
            Ok(())
        }
        _ => Err(Error::Usage),
    })?;
    if !n.names.is_empty() {
        create::clone(&n.service, &n.list(), at, n.deadline())?;
    }
    Ok(n.next())
}
