//! s6i-remove: delete an instance's directory.

use std::ffi::OsString;

use crate::delete;
use crate::diag::Error;

pub const USAGE: &str = "s6i-remove service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    super::on_names(&argv, |service, names| delete::remove(service, names).map(drop))
}
