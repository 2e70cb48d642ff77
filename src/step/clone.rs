//! s6i-clone: copy an instanced service's template into a new instance
//! directory, whole or not at all.

use std::ffi::OsString;

use crate::diag::Error;
use crate::instance;

pub const USAGE: &str = "s6i-clone service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    super::on_names(&argv, instance::clone)
}
