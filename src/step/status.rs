//! s6i-status: print an instance's status as s6-svstat does.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use crate::diag::{self, Error, EXIT_NOT_RUNNING, EXIT_USAGE};
use crate::getopt::Getopt;
use crate::release::BUILT_FOR;
use crate::svstatus::{field_named, Field, Status, View, MAX_FIELDS};
use crate::{layout, supervise};

/// The usage line, with the letters and fields of the s6-svstat of the
/// release we were built for (`-g` and `pgid` from 2.13).
pub const USAGE: &str = if BUILT_FOR.svstat_pgid() {
    "s6i-status [ -uwNrpgest | -o up,wantedup,normallyup,ready,paused,pid,pgid,exitcode,signal,signum,updownsince,readysince,updownfor,readyfor ] [ -n ] service name|{ name... }"
} else {
    "s6i-status [ -uwNrpest | -o up,wantedup,normallyup,ready,paused,pid,exitcode,signal,signum,updownsince,readysince,updownfor,readyfor ] [ -n ] service name|{ name... }"
};

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let (format, rest) = Format::from_options(&argv)?;
    // Words after the name, or the block of names, are ignored.
    let (service, names, _) = layout::service_and_instances(rest)?;
    print_status(&format, &service, &names).map_err(|e| service.explain(e))?;
    Ok(Vec::new())
}

/// The status line of each instance of `names`.
fn print_status(format: &Format, service: &layout::Service, names: &[OsString]) -> Result<(), Error> {
    // One name: its line, or its error. Several: a line each, led by the
    // name; one that cannot be read gets a warning instead, and the exit
    // code of the last such.
    let many = names.len() > 1;
    let mut out = Vec::new();
    let mut failed = None;
    for name in names {
        let view = match read(&service.instance(name)) {
            Ok(view) => view,
            Err(e) if !many => return Err(e),
            Err(Error::Fatal { code, msg }) => {
                diag::warn(&msg);
                failed = Some(code);
                continue;
            }
            Err(e) => return Err(e),
        };
        if many {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
        }
        out.extend_from_slice(format.line(&view).as_bytes());
        out.push(b'\n');
    }
    diag::write_stdout(&out)?;
    match failed {
        Some(code) => Err(Error::new(code, "unable to read the status of every instance")),
        None => Ok(()),
    }
}

/// What a status reader prints, from s6-svstat's options: the summary
/// line (`-n`: signals by number), or the fields asked for, in order.
pub struct Format {
    fields: Vec<Field>,
    numeric: bool,
}

impl Format {
    /// Parse s6-svstat's options; the words after them are returned.
    pub fn from_options(argv: &[OsString]) -> Result<(Format, &[OsString]), Error> {
        let mut format = Format {
            fields: Vec::new(),
            numeric: false,
        };
        let fields = &mut format.fields;
        let mut opts = Getopt::new(argv, "no:uwNrpgest");
        for opt in opts.by_ref() {
            match opt? {
                (b'n', _) => format.numeric = true,
                (b'o', Some(list)) => add_fields(fields, list.as_encoded_bytes())?,
                (c, None) => {
                    let field = match c {
                        b'u' => Field::Up,
                        b'w' => Field::WantedUp,
                        b'N' => Field::NormallyUp,
                        b'r' => Field::Ready,
                        b'p' => Field::Pid,
                        b'g' if BUILT_FOR.svstat_pgid() => Field::Pgid,
                        b'g' => return Err(crate::release::too_new(c, "2.13.0.0")),
                        b'e' => Field::ExitCode,
                        b's' => Field::Signal,
                        b't' => Field::UpDownFor,
                        _ => return Err(Error::Usage),
                    };
                    push(fields, field)?;
                }
                _ => return Err(Error::Usage),
            }
        }
        Ok((format, opts.rest()))
    }

    /// Whether fields were asked for, rather than the summary line.
    pub fn has_fields(&self) -> bool {
        !self.fields.is_empty()
    }

    /// The line for one service, without its newline.
    pub fn line(&self, view: &View) -> String {
        if self.fields.is_empty() {
            view.summary(self.numeric)
        } else {
            self.fields.iter().map(|&f| view.field(f)).collect::<Vec<_>>().join(" ")
        }
    }
}

fn push(fields: &mut Vec<Field>, f: Field) -> Result<(), Error> {
    if fields.len() >= MAX_FIELDS {
        return Err(Error::new(EXIT_USAGE, "too many option fields"));
    }
    fields.push(f);
    Ok(())
}

/// `-o a,b,c`: each item names a field (see `field_named`). An empty
/// item is refused in the words of the release's s6-svstat.
fn add_fields(fields: &mut Vec<Field>, list: &[u8]) -> Result<(), Error> {
    if list.is_empty() {
        return Ok(());
    }
    let items = list.strip_suffix(b",").unwrap_or(list);
    for item in items.split(|&b| b == b',') {
        if item.is_empty() && !BUILT_FOR.svstat_pgid() {
            return Err(Error::new(EXIT_USAGE, "invalid null option field"));
        }
        let f = field_named(item, BUILT_FOR)
            .ok_or_else(|| crate::diag::msg("invalid option field: ").text(item).fatal(EXIT_USAGE))?;
        push(fields, f)?;
    }
    Ok(())
}

/// The status of a running supervisor, and whether the service is
/// normally up: s6-svstat's checks, in its order.
pub fn read(dir: &crate::door::Loc) -> Result<View, Error> {
    read_view(dir, false)?.ok_or_else(|| Error::sys("read status for", dir, nix::errno::Errno::ENOENT))
}

/// `read`, but None for a supervisor that runs and has not written its
/// first status record yet: it is starting (a create or a sync under
/// way), which a summary says as not running, not as an error.
pub fn read_or_starting(dir: &crate::door::Loc) -> Result<Option<View>, Error> {
    read_view(dir, true)
}

fn read_view(dir: &crate::door::Loc, starting: bool) -> Result<Option<View>, Error> {
    let not_running = || {
        let msg = crate::diag::msg("unable to read status for ").path(dir);
        msg.text(": s6-supervise not running").fatal(EXIT_NOT_RUNNING)
    };
    if !supervise::is_running(dir).map_err(|e| Error::sys("check", dir, e))? {
        return Err(not_running());
    }
    let status = match Status::read(dir) {
        Err(nix::errno::Errno::ENOENT) if starting => return Ok(None),
        r => r.map_err(|e| Error::sys("read status for", dir, e))?,
    };
    let down = dir.join("down");
    let normallyup = match down.stat() {
        Ok(_) => false,
        Err(nix::errno::Errno::ENOENT) => true,
        Err(e) => return Err(Error::sys("access", &down, e)),
    };
    Ok(Some(View::new(status, normallyup)))
}
