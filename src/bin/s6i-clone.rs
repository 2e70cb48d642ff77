//! s6i-clone: copy an instanced service's template into a new instance
//! directory, whole or not at all.

use s6i::diag::{self, Error};
use s6i::getopt::Getopt;
use s6i::{instance, layout};

const USAGE: &str = "s6i-clone service name|{ name... } [ prog... ]";

fn main() {
    diag::run(USAGE, |argv| {
        let mut opts = Getopt::new(&argv, "");
        if let Some(opt) = opts.next() {
            opt?;
            return Err(Error::Usage);
        }
        let (service, names, prog) = layout::service_and_names(opts.rest())?;
        let names: Vec<&std::ffi::OsStr> = names.iter().map(|n| n.as_os_str()).collect();
        instance::clone(&service, &names)?;
        Ok(prog.to_vec())
    })
}
