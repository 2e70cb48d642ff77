//! Running a chain of steps: a step's command line in, then the next
//! step in this same process when it is one of ours installed beside
//! this program, or an exec of whatever else comes next. Above the steps
//! and `diag`, which know nothing of it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

use crate::diag::{die, set_prog, Error, SCRIPT_PROG_VAR, SCRIPT_USAGE_VAR};
use crate::step::Step;

/// The C `main` of every step (`src/bin` declares `#![no_main]`): the
/// Rust runtime's start-up is skipped, because it changes what the step
/// would hand on: it ignores SIGPIPE, and opens /dev/null on a closed
/// standard descriptor. A step must pass on what it was given, as an
/// exec would.
///
/// # Safety
///
/// `argv` must hold `argc` valid NUL-terminated strings, as the C
/// runtime gives `main`.
pub unsafe fn main(first: &'static Step, argc: libc::c_int, argv: *const *const libc::c_char) -> ! {
    let args = (0..usize::try_from(argc).unwrap_or(0))
        .map(|i| {
            // SAFETY: the caller vouches for argv[0..argc].
            let word = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
            OsString::from(std::ffi::OsStr::from_bytes(word.to_bytes()))
        })
        .collect();
    run(first, args)
}

/// Run a step's command line (argv[0] included), then either go on with
/// what it returns or print its error and exit. What it returns is
/// executed, unless it is another step installed beside this program:
/// that one runs here, in the state an exec would have given it, which
/// saves an exec per step of a chain (see `step_beside_me`).
pub fn run(first: &'static Step, mut argv: Vec<OsString>) -> ! {
    let mut argv0 = if argv.is_empty() {
        OsString::new()
    } else {
        argv.remove(0)
    };
    let mut step = first;
    loop {
        // Held across the steps that change instances, read between
        // them (see crate::interrupt); let through for any other.
        if changes_instances(step) {
            crate::signals::hold_interrupts();
        } else {
            crate::signals::release_interrupts();
        }
        // In a script, speak as the script (s6i-args names it), as s6's
        // own programs would.
        match std::env::var_os(SCRIPT_PROG_VAR) {
            Some(p) if !p.is_empty() => set_prog(p.as_bytes()),
            _ => set_prog(argv0.as_bytes()),
        }
        let e = match (step.run)(argv) {
            Ok(mut next) => {
                if crate::signals::interrupts_held() {
                    if let Some(sig) = crate::signals::interrupt_came() {
                        crate::interrupt::stop(sig);
                    }
                }
                if let Some(s) = step_beside_me(&next) {
                    as_if_executed();
                    argv0 = next.remove(0);
                    argv = next;
                    step = s;
                    continue;
                }
                crate::signals::release_interrupts();
                match chain(&next) {
                    Ok(()) => {
                        crate::create::forget_all_kept();
                        crate::journal::exit();
                        std::process::exit(0)
                    }
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        // What is left open in the log is for the next command to
        // recover (see crate::journal); the rest goes with it, and so do
        // the copies it kept private, never linked.
        crate::create::forget_all_kept();
        crate::journal::exit();
        match std::env::var_os(SCRIPT_USAGE_VAR) {
            Some(line) if !line.is_empty() => die(line.as_bytes(), e),
            _ => die(step.usage.as_bytes(), e),
        }
    }
}

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
    crate::wait::restore_fd_limit();
    crate::journal::hand_on();
    let errno = match exec::execvp(prog, argv) {
        // A word holding a NUL byte cannot reach us from an exec: only a
        // bug of ours could build one.
        exec::Error::BadArgument(_) => return Err(Error::Usage),
        exec::Error::Errno(e) => Errno::from_raw(e.0),
    };
    let code = if errno == Errno::ENOENT { 127 } else { 126 };
    Err(Error::sys_code(code, "exec", Path::new(prog), errno))
}

/// Whether `step` changes instances: the chain holds the interrupts
/// while it runs, to read them at its end.
fn changes_instances(step: &Step) -> bool {
    matches!(
        step.name,
        "s6i-plan"
            | "s6i-waves"
            | "s6i-clone"
            | "s6i-env"
            | "s6i-link"
            | "s6i-wait-supervise"
            | "s6i-unlink"
            | "s6i-remove"
            | "s6i-change"
    )
}

/// The step that `argv` would execute, if it is one of ours installed in
/// the same directory as the running program: named by an absolute path
/// whose directory is ours and whose name is a step's. Anything else,
/// a name looked up in PATH included, is really executed.
pub fn step_beside_me(argv: &[OsString]) -> Option<&'static Step> {
    let path = Path::new(argv.first()?);
    if !path.is_absolute() {
        return None;
    }
    let step = crate::step::named(path.file_name()?.as_bytes())?;
    // Where this program is does not change along the chain: looked up once.
    static MY_DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    let mine = MY_DIR.get_or_init(|| Some(std::env::current_exe().ok()?.parent()?.to_path_buf()));
    (mine.as_deref()? == path.parent()?).then_some(step)
}

/// Put back what an exec would reset before the next step runs in this
/// process: signals we catch go back to their default action. (Every
/// descriptor a step opened has been closed when its values were
/// dropped.)
pub fn as_if_executed() {
    crate::signals::restore_defaults();
    crate::wait::restore_fd_limit();
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
