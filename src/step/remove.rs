//! s6i-remove: delete an instance's directory.

use std::ffi::OsString;

use crate::delete;
use crate::diag::Error;

pub const USAGE: &str = "s6i-remove [ -e ] [ -v ] service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let n = super::names::parse(&argv, "ev", super::names::none)?;
    if !n.names.is_empty() {
        let names = n.list();
        let kept = delete::remove(&n.service, &names)?;
        if n.verbose {
            let removed: Vec<_> = names.iter().copied().filter(|m| !kept.contains(m)).collect();
            super::names::say(b'-', &removed)?;
        }
    }
    Ok(n.next())
}
