//! s6i-summary: the status of every instance of an instanced service, or
//! of the named ones, in one call, one line each, sorted by name.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use crate::diag::{self, Error, EXIT_NOT_RUNNING};
use crate::release::BUILT_FOR;
use crate::step::status::{read_or_starting, Format};

pub const USAGE: &str = if BUILT_FOR.svstat_pgid() {
    "s6i-summary [ -uwNrpgest | -o up,wantedup,normallyup,ready,paused,pid,pgid,exitcode,signal,signum,updownsince,readysince,updownfor,readyfor ] [ -n ] service [ name... ]"
} else {
    "s6i-summary [ -uwNrpest | -o up,wantedup,normallyup,ready,paused,pid,exitcode,signal,signum,updownsince,readysince,updownfor,readyfor ] [ -n ] service [ name... ]"
};

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let (format, rest) = Format::from_options(&argv)?;
    let (service, named) = crate::layout::service_then_names(rest)?;
    service.check_live()?;
    let mut names = if named.is_empty() {
        service.instance_names()?
    } else {
        named.to_vec()
    };
    names.sort();
    names.dedup();
    let (mut out, mut missing, mut failed) = (Vec::new(), 0, None);
    for name in &names {
        let link = service.link(name);
        // A supervisor that has taken its lock but not yet written its
        // first status (a create or sync under way) is said as one not
        // running yet, not as an error.
        let not_running = match format.has_fields() {
            true => "unsupervised",
            false => "s6-supervise not running",
        };
        let line = match read_or_starting(&service.instance(name)) {
            Ok(Some(view)) => format.line(&view),
            Ok(None) => not_running.to_string(),
            // Gone since it was listed: left out. Named and not there: said.
            Err(_) if !link.present() => {
                if !named.is_empty() {
                    diag::warn(diag::msg("no instance named ").name(name));
                    missing += 1;
                }
                continue;
            }
            Err(Error::Fatal {
                code: EXIT_NOT_RUNNING, ..
            }) => not_running.to_string(),
            // Unreadable (a broken record, no permission): said, and the
            // others are printed, as s6i-status does with several names.
            Err(Error::Fatal { code, msg }) => {
                diag::warn(msg);
                failed = Some(code);
                continue;
            }
            Err(e) => return Err(e),
        };
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(if format.has_fields() { b" " } else { b": " });
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    diag::write_stdout(&out)?;
    if let Some(code) = failed {
        return Err(Error::new(code, "unable to read the status of every instance"));
    }
    if missing > 0 {
        let msg = format!("{missing} of {} instances named not found", names.len());
        return Err(Error::new(EXIT_NOT_RUNNING, msg));
    }
    Ok(Vec::new())
}
