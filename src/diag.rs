//! Diagnostics and exit codes, the skarnet way: `PROG: fatal: unable to
//! VERB THING: reason` on stderr, and one of a handful of exit codes.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

use bstr::ByteSlice;
use nix::errno::Errno;

/// Bad usage or bad input.
pub const EXIT_USAGE: i32 = 100;
/// A system call failed.
pub const EXIT_SYS: i32 = 111;
/// A deadline passed.
pub const EXIT_TIMEOUT: i32 = 99;
/// The instanced service is not running.
pub const EXIT_NOT_RUNNING: i32 = 1;

/// The environment variable where s6i-args leaves the script's name.
pub const SCRIPT_PROG_VAR: &str = "S6I_PROG";
/// The environment variable where s6i-args leaves the script's usage
/// line: a step that finds its own arguments wrong, after s6i-args let
/// them through, is still the script's usage error.
pub const SCRIPT_USAGE_VAR: &str = "S6I_USAGE";

static PROG: Mutex<String> = Mutex::new(String::new());

/// The name this program prints in front of its messages.
pub fn prog() -> String {
    PROG.lock().map(|p| p.clone()).unwrap_or_default()
}

/// Why a step stops. Carried as a value to `chain::run`, which prints and
/// exits.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// Wrong command line: print the program's usage line, exit 100.
    Usage,
    /// Wrong command line, with the usage line to print.
    UsageLine(Vec<u8>),
    /// Anything else: print `PROG: fatal: msg`, exit with `code`.
    Fatal { code: i32, msg: Vec<u8> },
    /// The same, printed as `PROG: warning: msg`: how a program that
    /// goes on to its other operands (s6-svc from s6 2.14) reports a
    /// failure before it exits with `code`.
    Warned { code: i32, msg: Vec<u8> },
}

impl Error {
    /// A fatal error with a plain message.
    pub fn new(code: i32, msg: impl AsRef<[u8]>) -> Error {
        Error::Fatal {
            code,
            msg: msg.as_ref().to_vec(),
        }
    }

    /// `unable to VERB OBJECT: reason`, exit 111.
    pub fn sys(verb: &str, object: &Path, errno: Errno) -> Error {
        Error::sys_code(EXIT_SYS, verb, object, errno)
    }

    /// `unable to VERB OBJECT: reason`, with a chosen exit code.
    pub fn sys_code(code: i32, verb: &str, object: &Path, errno: Errno) -> Error {
        Error::Fatal {
            code,
            msg: unable(verb, object, errno),
        }
    }

    /// The exit code this error ends the program with.
    pub fn code(&self) -> i32 {
        match self {
            Error::Usage | Error::UsageLine(_) => EXIT_USAGE,
            Error::Fatal { code, .. } | Error::Warned { code, .. } => *code,
        }
    }
}

/// Write all of `out` to standard output, as the readers' one output.
/// Straight to descriptor 1: Rust's `stdout()` takes a closed descriptor
/// for a sink, where s6's programs fail to write (111). A closed pipe
/// is SIGPIPE, or EPIPE when the caller ignores SIGPIPE, as in s6.
pub fn write_stdout(out: &[u8]) -> Result<(), Error> {
    let fd1 = std::io::stdout();
    let mut done = 0;
    while done < out.len() {
        match nix::unistd::write(&fd1, &out[done..]) {
            Ok(n) => done += n,
            Err(Errno::EINTR) => {}
            Err(e) => {
                return Err(Error::new(
                    EXIT_SYS,
                    format!("unable to write to stdout: {}", reason(e)),
                ))
            }
        }
    }
    Ok(())
}

/// Why a system call failed, in the C library's words (`strerror`), as
/// skarnet's programs print it: nix's own table words some differently
/// (EBADF is "Bad file number" there, "Bad file descriptor" in glibc).
pub fn reason(errno: Errno) -> String {
    let mut buf = [0u8; 128];
    // SAFETY: buf is writable for its length; the XSI strerror_r that the
    // libc crate binds writes a NUL-terminated string into it.
    let r = unsafe { libc::strerror_r(errno as libc::c_int, buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(0);
    if r != 0 || len == 0 {
        return errno.desc().to_string();
    }
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// The message `unable to VERB OBJECT: reason`.
pub fn unable(verb: &str, object: &Path, errno: Errno) -> Vec<u8> {
    let mut msg = format!("unable to {verb} ").into_bytes();
    msg.extend_from_slice(object.as_os_str().as_bytes());
    msg.extend_from_slice(b": ");
    msg.extend_from_slice(reason(errno).as_bytes());
    msg
}

/// Errno of an I/O error, for our messages.
pub fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Bytes of a path, for messages.
pub fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

fn emit(kind: &str, msg: &[u8]) {
    let mut line = Vec::with_capacity(msg.len() + 32);
    line.extend_from_slice(prog().as_bytes());
    line.extend_from_slice(b": ");
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(b": ");
    line.extend_from_slice(msg);
    line.push(b'\n');
    let _ = std::io::stderr().write_all(&line);
}

/// `PROG: warning: msg`
pub fn warn(msg: impl AsRef<[u8]>) {
    emit("warning", msg.as_ref());
}

/// Print the error as skarnet's tools do and exit with its code.
pub fn die(usage: &[u8], e: Error) -> ! {
    match &e {
        Error::Usage => emit("usage", usage),
        Error::UsageLine(line) => emit("usage", line),
        Error::Fatal { msg, .. } => emit("fatal", msg),
        Error::Warned { msg, .. } => emit("warning", msg),
    }
    std::process::exit(e.code())
}

/// Set the program name from a path (its basename).
pub fn set_prog(argv0: &[u8]) {
    let base = argv0.rsplit_str("/").next().unwrap_or(argv0);
    if let Ok(mut p) = PROG.lock() {
        *p = String::from_utf8_lossy(base).into_owned();
    }
}
