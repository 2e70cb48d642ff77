//! s6i-clone: copy an instanced service's template into a new instance
//! directory, whole or not at all.

use s6i::diag::{self, Error};
use s6i::getopt::{operands, Getopt};
use s6i::{instance, layout};

const USAGE: &str = "s6i-clone service name [ prog... ]";

fn main() {
    diag::run(USAGE, |argv| {
        let mut opts = Getopt::new(&argv, "");
        if let Some(opt) = opts.next() {
            opt?;
            return Err(Error::Usage);
        }
        let (ops, prog) = operands(opts.rest(), 2)?;
        let (service, name) = layout::service_and_name(ops)?;
        instance::clone(&service, name)?;
        Ok(prog.to_vec())
    })
}
