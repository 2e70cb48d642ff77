//! Chainloading: the one place where a step replaces itself with the rest
//! of its command line.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::signal::{signal, SigHandler, Signal};

use crate::diag::Error;

/// Rust starts programs with SIGPIPE ignored, and an ignored signal
/// survives exec. s6 tools run, and hand on, the default disposition.
pub fn default_sigpipe() {
    // SAFETY: setting a signal to SIG_DFL installs no handler.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Execute `argv` (searching PATH), or return Ok when it is empty: a step
/// at the end of a chain simply exits 0, as execline's programs do.
pub fn chain(argv: &[OsString]) -> Result<(), Error> {
    if argv.is_empty() {
        return Ok(());
    }
    let mut cargs = Vec::with_capacity(argv.len());
    for a in argv {
        match CString::new(a.as_bytes()) {
            Ok(c) => cargs.push(c),
            Err(_) => return Err(Error::Usage),
        }
    }
    let e = nix::unistd::execvp(&cargs[0], &cargs).unwrap_err();
    let code = if e == nix::errno::Errno::ENOENT { 127 } else { 126 };
    Err(Error::sys_code(code, "exec", Path::new(&argv[0]), e))
}
