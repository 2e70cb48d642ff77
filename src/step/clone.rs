//! s6i-clone: copy an instanced service's template into a new instance
//! directory, whole or not at all.

use std::ffi::OsString;

use crate::diag::Error;
use crate::getopt::Getopt;
use crate::{instance, layout};

pub const USAGE: &str = "s6i-clone service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut opts = Getopt::new(&argv, "");
    if let Some(opt) = opts.next() {
        opt?;
        return Err(Error::Usage);
    }
    let (service, names, prog) = layout::service_and_names(opts.rest())?;
    let names: Vec<&std::ffi::OsStr> = names.iter().map(|n| n.as_os_str()).collect();
    instance::clone(&service, &names)?;
    Ok(prog.to_vec())
}
