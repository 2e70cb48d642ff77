//! s6i-remove: delete an instance's directory.

use s6i::diag::{self, Error};
use s6i::getopt::Getopt;
use s6i::{instance, layout};

const USAGE: &str = "s6i-remove service name|{ name... } [ prog... ]";

fn main() {
    diag::run(USAGE, |argv| {
        let mut opts = Getopt::new(&argv, "");
        if let Some(opt) = opts.next() {
            opt?;
            return Err(Error::Usage);
        }
        let (service, names, prog) = layout::service_and_names(opts.rest())?;
        let names: Vec<&std::ffi::OsStr> = names.iter().map(|n| n.as_os_str()).collect();
        instance::remove(&service, &names)?;
        Ok(prog.to_vec())
    })
}
