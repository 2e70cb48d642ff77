//! s6i-remove: delete an instance's directory.

use s6i::diag::{self, Error};
use s6i::getopt::{operands, Getopt};
use s6i::{instance, layout};

const USAGE: &str = "s6i-remove service name [ prog... ]";

fn main() {
    diag::run(USAGE, |argv| {
        let mut opts = Getopt::new(&argv, "");
        if let Some(opt) = opts.next() {
            opt?;
            return Err(Error::Usage);
        }
        let (ops, prog) = operands(opts.rest(), 2)?;
        let (service, name) = layout::service_and_name(ops)?;
        instance::remove(&service, &[name])?;
        Ok(prog.to_vec())
    })
}
