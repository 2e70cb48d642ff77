//! Chainloading: the one place where a step replaces itself with the rest
//! of its command line.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

use crate::diag::{Error, SCRIPT_PROG_VAR, SCRIPT_USAGE_VAR};

/// Execute `argv` (searching PATH, with the exec crate), or return Ok
/// when it is empty: a step at the end of a chain simply exits 0, as
/// execline's programs do. Not found is 127, found but not executable
/// 126, as in execline. A program that is not one of our steps does not
/// get the script's name and usage line (s6i-args leaves them for the
/// steps only).
pub fn chain(argv: &[OsString]) -> Result<(), Error> {
    let Some(prog) = argv.first() else {
        return Ok(());
    };
    let base = Path::new(prog).file_name().map_or(&[][..], |b| b.as_bytes());
    if crate::step::named(base).is_none() {
        std::env::remove_var(SCRIPT_PROG_VAR);
        std::env::remove_var(SCRIPT_USAGE_VAR);
    }
    let errno = match exec::execvp(prog, argv) {
        // A word holding a NUL byte cannot reach us from an exec: only a
        // bug of ours could build one.
        exec::Error::BadArgument(_) => return Err(Error::Usage),
        exec::Error::Errno(e) => Errno::from_raw(e.0),
    };
    let code = if errno == Errno::ENOENT { 127 } else { 126 };
    Err(Error::sys_code(code, "exec", Path::new(prog), errno))
}

/// The step that `argv` would execute, if it is one of ours installed in
/// the same directory as the running program: named by an absolute path
/// whose directory is ours and whose name is a step's. Anything else,
/// a name looked up in PATH included, is really executed.
pub fn step_beside_me(argv: &[OsString]) -> Option<&'static crate::step::Step> {
    let path = Path::new(argv.first()?);
    if !path.is_absolute() {
        return None;
    }
    let step = crate::step::named(path.file_name()?.as_bytes())?;
    let me = std::env::current_exe().ok()?;
    (me.parent()? == path.parent()?).then_some(step)
}

/// Put back what an exec would reset before the next step runs in this
/// process: signals we catch go back to their default action. (Every
/// descriptor a step opened has been closed when its values were
/// dropped.)
pub fn as_if_executed() {
    crate::fifodir::forget_signal_handlers();
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn only_a_step_beside_me_runs_in_process() {
        let here = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
        let argv = |p: PathBuf| vec![OsString::from(p), OsString::from("--")];
        assert_eq!(
            step_beside_me(&argv(here.join("s6i-list"))).map(|s| s.name),
            Some("s6i-list")
        );
        // Not a step, elsewhere, or looked up in PATH: executed.
        assert!(step_beside_me(&argv(here.join("s6i-nothing"))).is_none());
        assert!(step_beside_me(&argv(PathBuf::from("/nowhere/s6i-list"))).is_none());
        assert!(step_beside_me(&argv(PathBuf::from("s6i-list"))).is_none());
        assert!(step_beside_me(&argv(here.join("sub/s6i-list"))).is_none());
        assert!(step_beside_me(&[]).is_none());
    }
}
