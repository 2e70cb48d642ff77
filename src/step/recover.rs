//! s6i-recover: finish or undo what killed commands left in an
//! instanced service (crate::recover), waiting up to the timeout for
//! the supervisors of old trees to exit, then go on. Every step that
//! changes instances does this first; a custom chain may call it alone.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use crate::diag::Error;
use crate::getopt::{number, operands, Getopt};
use crate::layout::Service;

pub const USAGE: &str = "s6i-recover [ -t timeout ] service [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut timeout = 0;
    let mut opts = Getopt::new(&argv, "t:");
    for opt in opts.by_ref() {
        match opt? {
            (b't', Some(v)) => timeout = number(v)?,
            _ => return Err(Error::Usage),
        }
    }
    let (ops, prog) = operands(opts.rest(), 1)?;
    let service = Service::new(&ops[0])?;
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout.into()));
    crate::recover::finish_within(&service, deadline);
    Ok(prog.to_vec())
}
