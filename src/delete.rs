//! Taking instances away, for the delete steps, sync and a create that
//! finishes a killed delete: unlink them from the nested scan directory
//! and wait for their supervisors to exit (`unlink`), then remove their
//! directories (`remove`), never one that a create has linked again.
//! Kept apart from `create` so that each can be read alone; `create`
//! calls in here, never the other way.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use nix::errno::Errno;

use crate::diag::{msg, sys, warn, Error, EXIT_TIMEOUT};
use crate::door::Loc;
use crate::layout::{Service, PENDING};
use crate::supervise::supervised_dirs;
use crate::wait::WaitError;
use crate::{leftovers, pending, rename, scandir, supervise};

/// Unlink the named instances from the nested scan directory, have the
/// scanner prune (it stops their supervisors, which bring the services
/// down with their output intact, so a finish script's last words reach
/// the log), and (unless `wait` is false) wait for them to exit. When the
/// deadline passes first, the instances stay unlinked and marked, for
/// the next delete or create of the name to remove once the supervisors
/// are gone: a warning, exit 99, and the chain stops, so that no
/// directory is removed under a running supervisor.
pub fn unlink(service: &Service, names: &[&OsStr], wait: bool, deadline: Option<Instant>) -> Result<(), Error> {
    // What killed commands left is finished first (see crate::recover).
    crate::recover::finish(service);
    let mut dirs = Vec::new();
    if wait {
        for name in names {
            dirs.extend(supervised_dirs(&service.instance_dir(name))?);
        }
    }
    let exits = supervise::Exits::watch(dirs)?;
    for name in names {
        let dir = service.instance_dir(name);
        // Nothing to mark where there is no instance, or a symlink; and on
        // a full filesystem, the delete goes on unmarked, as s6's does.
        // Open until the directory is gone (see crate::journal). Best
        // effort, as the mark is: on a full filesystem the delete goes
        // on without either, as s6's does.
        let _ = crate::journal::open(&service.instances(), "delete", name.as_bytes(), b"");
        match pending::mark(&dir, &service.instances()) {
            Ok(()) | Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR | Errno::ENOSPC | Errno::EDQUOT) => {}
            Err(e) => {
                crate::journal::close("delete", name.as_bytes());
                return Err(Error::sys("write", &dir.join(PENDING), e));
            }
        }
        let link = service.link(name);
        if let Err(e) = link.unlink() {
            crate::journal::close("delete", name.as_bytes());
            return Err(Error::sys("remove", &link, e));
        }
    }
    let _ = scandir::control(&service.scandir(), b"an");
    match exits.wait(deadline) {
        Ok(()) => Ok(()),
        Err((late, WaitError::Timeout)) => {
            let msg = msg("timed out waiting for s6-supervise to exit on ").path(&late);
            Err(msg
                .text(": instance left unlinked, for the next delete or create to remove")
                .warned(EXIT_TIMEOUT))
        }
        Err((late, e)) => Err(e.error("", &late)),
    }
}

/// Remove the directory of each named instance. One that is linked into
/// the scan directory again is left alone, with a warning: a create of
/// the same name got in after our unlink, and the instance is its now.
/// Returns the names left alone. A create that linked between our look
/// and the removal would be left with a link leading nowhere, which
/// the scanner of s6 2.13 and later takes for an error that ends every
/// scan: `link` and we hold `instances/` locked from the look to the
/// move.
pub fn remove<'a>(service: &Service, names: &[&'a OsStr]) -> Result<Vec<&'a OsStr>, Error> {
    let mut kept = Vec::new();
    let mut aside = Vec::new();
    let working = leftovers::working(&service.instances());
    let locked = service.lock_instances()?;
    let moved = names.iter().try_for_each(|&name| {
        let dir = service.instance_dir(name);
        if service.link(name).present() {
            warn(
                msg("leaving ")
                    .path(&dir)
                    .text(": it is linked again, made anew since it was unlinked"),
            );
            kept.push(name);
        } else if let Some(path) = rename::move_aside(&dir).map_err(sys("remove", &dir))? {
            aside.push((dir, path));
        }
        Ok(())
    });
    // What was moved aside goes, even when a later name failed; then
    // what killed commands left, if any.
    unlock_and_remove(locked, aside)?;
    for name in names {
        crate::journal::close("delete", name.as_bytes());
    }
    drop(working);
    crate::recover::finish(service);
    moved.map(|()| kept)
}

/// Release the lock on `instances/`, then delete the trees moved aside
/// under it (each given with the instance directory it was).
pub(crate) fn unlock_and_remove(
    locked: Option<crate::work::Lock>,
    aside: impl IntoIterator<Item = (Loc, Loc)>,
) -> Result<(), Error> {
    drop(locked);
    aside
        .into_iter()
        .try_for_each(|(dir, at)| at.remove_tree().map_err(sys("remove", &dir)))
}
