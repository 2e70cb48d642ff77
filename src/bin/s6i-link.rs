//! s6i-link: make a cloned instance visible to the nested scanner.

use s6i::diag::{self, Error};
use s6i::getopt::{operands, Getopt};
use s6i::instance::{self, EventDir, Start};
use s6i::layout;

const USAGE: &str = "s6i-link [ -d | -D ] [ -f ] [ -P ] service name [ prog... ]";

fn main() {
    diag::run(USAGE, |argv| {
        let (mut start, mut event) = (Start::Up, EventDir::default());
        let mut opts = Getopt::new(&argv, "dDfP");
        for opt in opts.by_ref() {
            match opt? {
                (c @ (b'd' | b'D'), _) => start.set(c),
                (b'f', _) => event.force = true,
                (b'P', _) => event.public = true,
                _ => return Err(Error::Usage),
            }
        }
        let (ops, prog) = operands(opts.rest(), 2)?;
        let (service, name) = layout::service_and_name(ops)?;
        instance::link(&service, name, start, event)?;
        Ok(prog.to_vec())
    })
}
