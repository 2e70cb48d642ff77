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

/// Unlink the named instances from the nested scan directory and put
/// each aside at once, under a hidden name (`put_aside`); have the
/// scanner prune (it stops their supervisors, which bring the services
/// down with their output intact, so a finish script's last words reach
/// the log), and (unless `wait` is false) wait for them to exit. When
/// the deadline passes first, the instances stay aside, their records
/// open, for the next command of ours to remove once the supervisors
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
    // Where the lock cannot be had (a filesystem too full for
    // `.s6i-work`), no record can be written either: the instances then
    // stay at their names, and there is no rename to guard.
    let locked = service.lock_instances().unwrap_or(None);
    for name in names {
        put_aside(service, name)?;
    }
    drop(locked);
    let _ = scandir::control(&service.scandir(), b"an");
    match exits.wait(deadline) {
        Ok(()) => Ok(()),
        Err((late, WaitError::Timeout)) => {
            let msg = msg("timed out waiting for s6-supervise to exit on ").path(&late);
            Err(msg
                .text(": instance left unlinked and put aside, for the next command to remove")
                .warned(EXIT_TIMEOUT))
        }
        Err((late, e)) => Err(e.error("", &late)),
    }
}

/// Unlink NAME and, right after, rename its directory to a hidden name,
/// under the lock of `instances/` (see `remove`): the name is free at
/// once, for s6's own create too, and a chain killed from here on
/// leaves nothing there. The `delete` record, written first, says
/// where it goes and which directory it is (leftovers::Aside), open
/// until the tree is gone. Where no record can be written (a full
/// filesystem), the instance is marked pending instead and left at its
/// name, as before there were records; a delete goes on regardless, as
/// s6's does.
fn put_aside(service: &Service, name: &OsStr) -> Result<(), Error> {
    let instances = service.instances();
    let dir = service.instance_dir(name);
    let aside = dir.stat().ok().map(|st| leftovers::Aside {
        hidden: leftovers::hidden_sibling(&dir, "delete")
            .name()
            .unwrap_or_default()
            .to_os_string(),
        id: (st.st_dev, st.st_ino),
    });
    let recorded = aside.as_ref().map_or(b"".to_vec(), leftovers::Aside::record);
    let recorded = crate::journal::open(&instances, "delete", name.as_bytes(), &recorded).is_ok();
    if let Some(aside) = &aside {
        leftovers::answered_for(&instances.join(&aside.hidden));
    }
    if !recorded {
        match pending::mark(&dir, &instances) {
            Ok(()) | Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR | Errno::ENOSPC | Errno::EDQUOT) => {}
            Err(e) => return Err(Error::sys("write", &dir.join(PENDING), e)),
        }
    }
    let link = service.link(name);
    if let Err(e) = link.unlink() {
        crate::journal::close("delete", name.as_bytes());
        return Err(Error::sys("remove", &link, e));
    }
    if let (true, Some(aside)) = (recorded, aside) {
        // Only the directory the record names: another one put there
        // meanwhile is not ours to take.
        if aside.is_at(&dir) {
            if let Err(e) = crate::rename::rename_noreplace(&dir, &instances.join(&aside.hidden)) {
                // Left at its name, marked, as without a record.
                let _ = pending::mark(&dir, &instances);
                if e != Errno::ENOENT {
                    warn(msg("unable to put aside ").path(&dir).text(": ").text(e.desc()));
                }
            }
        }
    }
    Ok(())
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
        // Put aside by our unlink: only that tree is ours to remove.
        let put = crate::journal::extra("delete", name.as_bytes()).and_then(|r| leftovers::Aside::parse(&r));
        if let Some(at) = put.map(|a| service.instances().join(&a.hidden)).filter(Loc::present) {
            aside.push((dir, at));
        } else if service.link(name).present() {
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
