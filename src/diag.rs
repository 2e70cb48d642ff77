//! Diagnostics and exit codes, the skarnet way: `PROG: fatal: unable to
//! VERB THING: reason` on stderr, and one of a handful of exit codes.
//! Our messages are compared byte for byte with those of s6's C
//! programs, so every one is built here (`Error::sys`, `unable`, `Msg`),
//! from bytes: a path or a name that is not UTF-8 is said as it is.
//! Knows nothing of the other modules.

use std::ffi::OsStr;
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
    pub fn sys(verb: &str, object: &(impl Shown + ?Sized), errno: Errno) -> Error {
        Error::sys_code(EXIT_SYS, verb, object, errno)
    }

    /// `unable to VERB OBJECT: reason`, with a chosen exit code.
    pub fn sys_code(code: i32, verb: &str, object: &(impl Shown + ?Sized), errno: Errno) -> Error {
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
pub fn unable(verb: &str, object: &(impl Shown + ?Sized), errno: Errno) -> Vec<u8> {
    msg("unable to ")
        .text(verb)
        .text(" ")
        .path(object)
        .text(": ")
        .reason(errno)
        .into()
}

/// A message made of pieces, as bytes: the one way our messages are
/// built, so that a path or a name that is not UTF-8 reaches the user
/// as it is, byte for byte. Begun by `msg`, given to `Error::new`,
/// `warn`, or ended by `fatal` / `warned`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Msg(Vec<u8>);

/// A message that begins with `text`.
pub fn msg(text: impl AsRef<[u8]>) -> Msg {
    Msg(text.as_ref().to_vec())
}

impl Msg {
    /// Then `text`, as it is.
    pub fn text(mut self, text: impl AsRef<[u8]>) -> Msg {
        self.0.extend_from_slice(text.as_ref());
        self
    }

    /// Then a path, byte for byte.
    pub fn path(self, path: &(impl Shown + ?Sized)) -> Msg {
        self.text(bytes(path.shown()))
    }

    /// Then a name (of an instance, a user...), byte for byte.
    pub fn name(self, name: &OsStr) -> Msg {
        self.text(name.as_bytes())
    }

    /// Then each name, after a space.
    pub fn names<N: AsRef<OsStr>>(self, names: impl IntoIterator<Item = N>) -> Msg {
        names.into_iter().fold(self, |m, n| m.text(" ").name(n.as_ref()))
    }

    /// Then why a system call failed (`reason`).
    pub fn reason(self, errno: Errno) -> Msg {
        self.text(reason(errno))
    }

    /// The error that prints it as `fatal` and exits with `code`.
    pub fn fatal(self, code: i32) -> Error {
        Error::Fatal { code, msg: self.0 }
    }

    /// The error that prints it as a `warning` and exits with `code`.
    pub fn warned(self, code: i32) -> Error {
        Error::Warned { code, msg: self.0 }
    }
}

impl AsRef<[u8]> for Msg {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Msg> for Vec<u8> {
    fn from(m: Msg) -> Vec<u8> {
        m.0
    }
}

/// `Error::sys(verb, path, _)` for a `map_err`.
pub fn sys<'a, P: Shown + ?Sized>(verb: &'a str, path: &'a P) -> impl FnOnce(Errno) -> Error + 'a {
    move |e| Error::sys(verb, path, e)
}

/// What a message says a file is at: a path, or a place of the door
/// (which is no path, so that it is never reached by one).
pub trait Shown {
    fn shown(&self) -> &Path;
}

impl Shown for Path {
    fn shown(&self) -> &Path {
        self
    }
}

impl<T: Shown + ?Sized> Shown for &T {
    fn shown(&self) -> &Path {
        (**self).shown()
    }
}

impl Shown for std::path::PathBuf {
    fn shown(&self) -> &Path {
        self
    }
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
