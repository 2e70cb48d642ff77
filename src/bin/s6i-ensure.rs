//! s6i-ensure: check that an instanced service is live, and, for a
//! create, that it has a template and an `instances/` directory.

use s6i::diag::{self, Error};
use s6i::getopt::{operands, Getopt};
use s6i::layout::Service;

const USAGE: &str = "s6i-ensure [ -c ] service [ prog... ]";

fn main() {
    diag::run(USAGE, |argv| {
        let mut create = false;
        let mut opts = Getopt::new(&argv, "c");
        for opt in opts.by_ref() {
            match opt? {
                (b'c', _) => create = true,
                _ => return Err(Error::Usage),
            }
        }
        let (ops, prog) = operands(opts.rest(), 1)?;
        let service = Service::new(&ops[0])?;
        service.check_live()?;
        if create {
            service.template()?;
            service.make_instances_dir()?;
        }
        Ok(prog.to_vec())
    })
}
