//! Moving running instances onto the current template, a batch at a
//! time, all of a batch started at once and each judged alone, and the
//! batch put back whole when one of it does not come up.
//!
//! For each instance: a fresh copy of the template, under a hidden name
//! beside it, is given the instance's own state (its `down` files, and
//! every file the template does not have, such as an environment written
//! after cloning), and a `down` file that holds it down. The two trees
//! are then swapped whole (RENAME_EXCHANGE): `instances/NAME` is at every
//! moment one whole copy, the old or the new. The scanner, told at once,
//! starts a supervisor on the new tree (held down) and forgets the old
//! one; once the new supervisor runs, the old one, still in the old
//! tree, brings the service down (its finish script's output intact)
//! and exits. Then the new service
//! is let go, and must be up (or up and ready) in time. If not, the same
//! dance in reverse puts the old tree back.
//!
//! The scanner's work (a scan, a new supervisor) is most of a move's
//! time, so each batch is staged (copied, swapped in, its supervisors
//! started, held down) while the one before comes up; its old services
//! serve on meanwhile. When a batch fails, the staged one goes back on
//! its old trees in the same scan: the scanner finds the inode it knew,
//! and keeps the old supervisor, which never stopped.
//!
//! A killed upgrade leaves, at worst, an instance on the new tree with its
//! old supervisor still running in the old one, under a hidden name: the
//! next upgrade or create has the scanner stop that supervisor (and
//! start the instance's own) and removes the old tree once its creator
//! is gone (create does not wait for it). It may also leave an instance
//! held down by our `down` file, which says whether it was wanted up:
//! the next upgrade never carries that file into a new copy, and lets go
//! the instances so held that it does not move.
//!
//! Every wait is on events (fifodirs, inotify for the links of the scan
//! directory, so that an instance deleted meanwhile ends a wait), with
//! the caller's deadline, or none.
//!
//! What the old copy holds from its template is told from what the
//! instance made by its manifest (see `crate::manifest`): an entry the
//! old template brought and the new one lacks is dropped.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::copy;
use crate::diag::{Error, EXIT_NOT_RUNNING, EXIT_SYS, EXIT_TIMEOUT};
use crate::door::Loc;
use crate::layout::Service;

use crate::fifodir::Listener;
use crate::supervise;
use crate::svwait::{Target, Watch};
use crate::wait::WaitError;

/// What to wait for once an instance runs on its new copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    Up,
    Ready,
}

/// How an instance came out of the upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Upgraded,
    RolledBack,
    Untouched,
    /// Deleted while it was upgraded.
    Deleted,
}

/// One instance on its way: where its trees are.
struct Move {
    /// `instances/NAME`.
    dir: Loc,
    /// The hidden name: the new copy before the swap, the old one after.
    aside: Loc,
    /// The new copy, until it is swapped in.
    made: Option<copy::Private>,
    /// Whether the instance was wanted up: only then must it come up.
    wanted_up: bool,
    /// Whether the `down` file that holds the new copy down until its
    /// supervisor runs is ours, to remove then (rather than the
    /// instance's own).
    held_down: bool,
}

/// Upgrade `names` (all instances when empty), `parallel` at a time,
/// each batch staged during the wait for the one before it if `ahead`
/// (see `swap_and_restart`). Returns how each came out; when one fails,
/// the error says which copy
/// each runs, and its code is 1 (failed), 99 (timed out) or 111 (deleted
/// meanwhile, or a wait that could not be made).
pub fn upgrade(
    service: &Service,
    names: &[&OsStr],
    parallel: usize,
    ahead: bool,
    wait: Option<Wait>,
    min_up: Duration,
    timeout: Option<Duration>,
) -> Result<Vec<(PathBuf, Outcome)>, Error> {
    let template = service.template()?;
    let wait = wait.unwrap_or(if template.join("notification-fd").present() {
        Wait::Ready
    } else {
        Wait::Up
    });
    let judge = Judge { wait, min_up, timeout };
    crate::recover::finish_within(service, timeout.map(|t| Instant::now() + t));
    // Hidden copies from here on: a kill leaves them to the next sweep.
    let _working = crate::leftovers::working(&service.instances());
    // An instance is a link and its directory. Every name is checked
    // before anything moves; listed, a link without its directory (going
    // away) is left out.
    let whole = |name: &OsStr| service.linked(name) && service.instance_dir(name).is_real_dir();
    let mut todo: Vec<PathBuf> = if names.is_empty() {
        let all = service.instance_names()?;
        all.iter().filter(|n| whole(n)).map(PathBuf::from).collect()
    } else {
        names.iter().map(PathBuf::from).collect()
    };
    todo.sort();
    todo.dedup();
    for name in &todo {
        if !whole(name.as_os_str()) {
            let msg = crate::diag::msg("no instance named ").path(name);
            return Err(msg.fatal(crate::diag::EXIT_USAGE));
        }
    }
    // What a killed upgrade left held down beyond these is let go.
    release_held(service, &todo, timeout.map(|t| Instant::now() + t));
    let mut report: Vec<(PathBuf, Outcome)> = todo.iter().map(|n| (n.clone(), Outcome::Untouched)).collect();
    let batches: Vec<&[PathBuf]> = todo.chunks(parallel.max(1)).collect();
    let deletions = Deletions::watch(service);
    // With `ahead`, each batch is staged (its copies swapped in, their
    // supervisors started, held down, while the old services serve on)
    // during the wait for the batch before it; without, once that one is
    // done. The old trees of a batch are removed during the wait for the
    // next.
    let mut unused: Vec<Loc> = Vec::new();
    let mut staged = match batches.first() {
        Some(batch) => Some(stage(service, &template, batch, &deletions)?),
        None => None,
    };
    for b in 0..batches.len() {
        let Some(current) = staged.take() else { break };
        let first = b * parallel.max(1);
        let next = || match batches.get(b + 1) {
            Some(batch) if ahead => stage(service, &template, batch, &deletions).map(Some),
            _ => Ok(None),
        };
        let done = swap_and_restart(service, current, judge, &deletions, next, &mut unused);
        let (failed, next) = done.inspect_err(|_| remove_unused(&mut unused))?;
        for i in 0..batches[b].len() {
            report[first + i].1 = failed
                .iter()
                .find(|(j, ..)| *j == i)
                .map_or(Outcome::Upgraded, |&(_, outcome, _)| outcome);
        }
        if let Some(&(.., code)) = failed.first() {
            if let Err(Error::Fatal { msg, .. }) = next {
                crate::diag::warn(msg);
            }
            remove_unused(&mut unused);
            return Err(rolled_back(report, code));
        }
        staged = next.inspect_err(|_| remove_unused(&mut unused))?;
        if let (None, Some(batch)) = (&staged, batches.get(b + 1)) {
            let next = stage(service, &template, batch, &deletions);
            staged = Some(next.inspect_err(|_| remove_unused(&mut unused))?);
        }
    }
    remove_unused(&mut unused);
    Ok(report)
}

/// Remove the copies no longer used (the old trees, aside), but one
/// whose supervisor has not gone yet: the next upgrade or create
/// removes that one.
fn remove_unused(unused: &mut Vec<Loc>) {
    for aside in unused.drain(..) {
        if !supervise::is_running(&aside).unwrap_or(false) {
            let _ = copy::remove_tree(&aside);
        }
    }
}

/// The error of an upgrade that stopped: every instance's copy, and why.
fn rolled_back(report: Vec<(PathBuf, Outcome)>, code: i32) -> Error {
    let said = report
        .iter()
        .fold(crate::diag::msg("upgrade stopped:"), |m, (name, outcome)| {
            m.text(" ").path(name).text(match outcome {
                Outcome::Upgraded => "=new",
                Outcome::RolledBack => "=old(rolled back)",
                Outcome::Untouched => "=old",
                Outcome::Deleted => "=deleted",
            })
        });
    said.fatal(code)
}

/// The new copy of one instance, ready beside it.
fn prepare(service: &Service, template: &Loc, name: &Path) -> Result<Move, Error> {
    let dir = service.instance_dir(name.as_os_str());
    // A down file of ours that a killed upgrade left: the instance was
    // held down on its way, not by its own choice, and the file says
    // whether it was wanted up.
    let left_held = held_by_us(&dir);
    let aside = crate::leftovers::hidden_sibling(&dir, "upgrade");
    let made = copy::copy_template(template, &aside, || service.template_lock())
        .map_err(|e| Error::sys("make a new copy for", &dir, e.errno))?;
    // Root's alone until the swap (see copy::Private): the manifest and
    // the instance's own files are copied in, and the down file written,
    // through the copy's own descriptor, where its user cannot reach.
    let filled = made.inside().and_then(|new| {
        crate::manifest::write(&new)?;
        // Nothing is written through a `log` symlink of the template (ELOOP).
        supervise::with_logger(&new)?;
        keep_own_state(&dir, &new)?;
        // Event fifodirs as the old ones were: public (create's -P) or not.
        let public = supervise::eventdir(&dir)
            .stat()
            .is_ok_and(|st| st.st_mode & 0o7777 == 0o1733);
        // The top is root's until the swap: its fifodir is made for the
        // owner it will have (the service's user, with the maker's -u).
        for (i, d) in supervise::with_logger(&new)?.iter().enumerate() {
            match i {
                0 => supervise::make_eventdir_as(d, public, false, made.owner())?,
                _ => supervise::make_eventdir(d, public, false)?,
            }
        }
        // Wanted up: as its supervisor says, or, with none running (a
        // killed upgrade left it so), as its down file says.
        let wanted_up = left_held.unwrap_or_else(|| match supervise::is_running(&dir) {
            Ok(true) => crate::svstatus::Status::read(&dir).map_or(true, |st| st.wantup),
            _ => !dir.join("down").present(),
        });
        Ok((wanted_up, hold_down(&new, wanted_up)?))
    });
    match filled {
        Ok((wanted_up, held_down)) => Ok(Move {
            dir,
            aside,
            made: Some(made),
            wanted_up,
            held_down,
        }),
        Err(e) => {
            made.discard();
            Err(Error::sys("make a new copy for", &dir, e))
        }
    }
}

/// Give the new copy what belongs to the instance, not to the template:
/// its `down` files as they are (not one of ours, which a killed upgrade
/// left), and every entry the new template does not have that the
/// instance made itself (see `add_missing`).
fn keep_own_state(old: &Loc, new: &Loc) -> Result<(), nix::errno::Errno> {
    for sub in ["", "log"] {
        let (o, n) = if sub.is_empty() {
            (old.clone(), new.clone())
        } else {
            (old.join(sub), new.join(sub))
        };
        if !n.is_real_dir() {
            continue;
        }
        let own_down = o.join("down").present() && held_by_us(&o).is_none();
        match (own_down, n.join("down").present()) {
            (true, false) => n.join("down").write_new(b"", 0o644)?,
            (false, true) => n.join("down").remove_tree()?,
            _ => {}
        }
    }
    let from_template = crate::manifest::read(old);
    add_missing(old, new, Path::new(""), from_template.as_ref())
}

/// Copy into the new copy each entry of the old one (at `rel` below
/// both) that the new template does not have, unless it came from the
/// old template: the old copy's manifest lists those, and one the new
/// template no longer has is dropped with it. Without a manifest (an
/// instance made by s6's own create), every such entry is kept. Never
/// carried over: the supervisor's `supervise` and `event`, our
/// `.s6i-pending` mark and manifest, and `down` (`keep_own_state`'s).
/// The old tree, the instance user's, is read by descriptor, never
/// through a link (see copy::copy_entry); the new one is still ours
/// alone.
fn add_missing(
    old: &Loc,
    new: &Loc,
    rel: &Path,
    from_template: Option<&std::collections::HashSet<PathBuf>>,
) -> Result<(), nix::errno::Errno> {
    let service_dir = rel.as_os_str().is_empty() || rel == Path::new("log");
    let at = |top: &Loc, r: &Path| {
        if r.as_os_str().is_empty() {
            top.clone()
        } else {
            top.join(r)
        }
    };
    for (name, is_dir) in copy::entries_below(&at(old, rel))? {
        let runtime = matches!(
            name.as_bytes(),
            b"supervise" | b"event" | b".s6i-pending" | b"down" | b".s6i-changed"
        );
        if runtime && service_dir || rel.as_os_str().is_empty() && name == crate::manifest::NAME {
            continue;
        }
        // What a killed env swap (see crate::envdir) left is not carried.
        if rel.as_os_str().is_empty() && crate::leftovers::leftover_name(name.as_bytes()) {
            continue;
        }
        let r = rel.join(&name);
        let (from, to) = (old.join(&r), new.join(&r));
        let templates = from_template.is_some_and(|t| t.contains(&r));
        // An `env/` the instance owns (written by sync or s6i-env, or by
        // hand after its clone: the manifest does not list it) takes the
        // place of the template's. Where the instance keeps its own
        // values apart (instance-env/, carried over as any entry of its
        // own), it is the new template's defaults with them over; else
        // it goes over whole, old defaults included.
        if rel.as_os_str().is_empty() && name == crate::envdir::ENV && is_dir && from_template.is_some() && !templates {
            if crate::envdir::renew_defaults(old, new)? {
                continue;
            }
            to.remove_tree()?;
            copy::copy_entry(&from, &to)?;
            crate::envdir::disown(new)?;
            continue;
        }
        match to.stat() {
            Err(_) if !templates => copy::copy_entry(&from, &to)?,
            Err(_) if is_dir => {
                // A directory the new template dropped: gone, but for
                // what the instance made in it.
                to.mkdir(0o700)?;
                add_missing(old, new, &r, from_template)?;
                if to.rmdir().is_err() {
                    // Owner, then mode, set on the directory itself (not
                    // through a path): as the old copy had them.
                    let st = from.stat()?;
                    let fd = to.open_dir()?;
                    let (uid, gid) = (
                        nix::unistd::Uid::from_raw(st.st_uid),
                        nix::unistd::Gid::from_raw(st.st_gid),
                    );
                    let _ = nix::unistd::fchown(&fd, Some(uid), Some(gid));
                    let _ = nix::sys::stat::fchmod(&fd, nix::sys::stat::Mode::from_bits_retain(st.st_mode & 0o7777));
                }
            }
            Err(_) => {}
            Ok(st) if crate::door::kind(&st) == nix::sys::stat::SFlag::S_IFDIR && is_dir => {
                add_missing(old, new, &r, from_template)?
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// A copy is swapped in held down (a `down` file, ours unless it has its
/// own): its new supervisor must not start the service while the old one
/// still runs. Ours says whether the instance is wanted up, for the next
/// upgrade to know if this one is killed. Returns whether the file is
/// ours.
fn hold_down(dir: &Loc, wanted_up: bool) -> Result<bool, nix::errno::Errno> {
    let down = dir.join("down");
    if down.present() {
        return Ok(false);
    }
    let says = if wanted_up { HELD } else { HELD_WANTED_DOWN };
    // Never through a symlink the instance's user planted: a dangling one
    // (no down file to s6-supervise) goes, and ours is made new.
    down.unlink()?;
    down.write_new(says, 0o644)?;
    Ok(true)
}

/// Whether the `down` file of `dir` is one of ours, left by a killed
/// upgrade (not the instance's own, so never carried to a new copy), and
/// if so whether the instance was wanted up. Read up to the size of ours:
/// a larger one, a link or a FIFO is the instance's.
fn held_by_us(dir: &Loc) -> Option<bool> {
    match dir.join("down").read(HELD.len().max(HELD_WANTED_DOWN.len())) {
        Ok(b) if b == HELD => Some(true),
        Ok(b) if b == HELD_WANTED_DOWN => Some(false),
        _ => None,
    }
}

/// What our own `down` files say, so that one a killed upgrade left is
/// told from the instance's: held on its way up, or while wanted down.
const HELD: &[u8] = b"held down by s6-instance-upgrade\n";
const HELD_WANTED_DOWN: &[u8] = b"held down by s6-instance-upgrade (wanted down)\n";

/// Why an instance of a batch did not make it.
enum Failure {
    /// The exit code, and what to say: it goes back to its old copy.
    Failed(i32, Vec<u8>),
    /// Its link went meanwhile: a delete took it away.
    Deleted,
}

/// The links of the scan directory: a delete removes an instance's
/// link first, and a wait on a supervisor the scanner will not start
/// for that name ends then (the waits watch the scan directory).
struct Deletions {
    scandir: Loc,
}

impl Deletions {
    fn watch(service: &Service) -> Deletions {
        Deletions {
            scandir: service.scandir(),
        }
    }

    /// Whether the link of the instance whose directory is `dir` is gone.
    fn gone(&self, dir: &Loc) -> bool {
        let link = self.scandir.join(dir.name().unwrap_or_default());
        link.stat() == Err(nix::errno::Errno::ENOENT)
    }
}

/// What to tell of a failure.
fn say(dir: &(impl crate::diag::Shown + ?Sized), f: &Failure) -> Vec<u8> {
    match f {
        Failure::Failed(_, msg) => msg.clone(),
        Failure::Deleted => crate::diag::msg("unable to upgrade ")
            .path(dir)
            .text(": instance deleted meanwhile")
            .into(),
    }
}

/// A batch on its way: its new copies swapped in, held down, and the
/// scanner told to start their supervisors; the old services still
/// serve, from the old trees aside.
struct Staged {
    moves: Vec<Move>,
    /// The indices of the moves swapped in.
    live: Vec<usize>,
    /// Those deleted before their swap.
    deleted: Vec<usize>,
    /// Subscribed to the events of each live one before the scanner was
    /// told: no start is missed.
    starts: Vec<Result<Listener, nix::errno::Errno>>,
}

/// Make the new copies of `batch`, swap each in, held down (RENAME_EXCHANGE:
/// `instances/NAME` is at every moment one whole copy), and tell the
/// scanner. Nothing of the batch has moved when a copy cannot be made.
fn stage(service: &Service, template: &Loc, batch: &[PathBuf], deletions: &Deletions) -> Result<Staged, Error> {
    let mut moves: Vec<Move> = Vec::new();
    for name in batch {
        match prepare(service, template, name) {
            Ok(m) => moves.push(m),
            Err(e) => {
                for m in moves {
                    if let Some(made) = m.made {
                        made.discard();
                    }
                }
                return Err(e);
            }
        }
    }
    let (mut live, mut deleted) = (Vec::new(), Vec::new());
    for (i, m) in moves.iter_mut().enumerate() {
        let made = m.made.take().expect("a new copy");
        match made.exchange_with(&m.dir) {
            Ok(()) => live.push(i),
            Err(nix::errno::Errno::ENOENT) if deletions.gone(&m.dir) => {
                let _ = m.aside.remove_tree();
                deleted.push(i);
            }
            Err(copy::SWAPPED) => return Err(crate::create::swapped(&m.aside)),
            Err(e) => return Err(Error::sys("swap in a new copy for", &m.dir, e)),
        }
    }
    let dirs: Vec<&Loc> = live.iter().map(|&i| &moves[i].dir).collect();
    let starts = subscribe(&dirs);
    crate::scandir::control(&service.scandir(), b"a")?;
    Ok(Staged {
        moves,
        live,
        deleted,
        starts,
    })
}

/// How a batch came out (see swap_and_restart), and the next one.
type Batch = (Vec<(usize, Outcome, i32)>, Result<Option<Staged>, Error>);

/// Finish a staged batch: once a supervisor runs on each new tree (held
/// down), bring the old services down (they serve until then), have the
/// old supervisors exit, and let the new ones start their services, all
/// at once, and judge each (see `Judge`). While they come up, `next`
/// stages the batch after this one: its supervisors start meanwhile,
/// which is most of the time an instance's move takes. When one of this
/// batch does not make it, the whole batch is put back on its old copies
/// the same way, and the next one, whose services never stopped, back
/// on its old trees. Returns the indices of those not upgraded, how they
/// came out and exit codes, failures first, and the next batch, staged.
/// Every wait is on events, with the caller's deadline for each of its
/// steps; none, and it waits for as long as it takes, as s6 does.
///
/// The order matters: a supervisor that exits before the scanner has
/// seen its tree go is, to the scanner, a service that died. s6 2.11
/// restarts it on whatever tree then has the name; s6 2.13 keeps its
/// record for good, and a later tree that reuses the inode number is
/// never started. A supervisor on the new tree shows that the scan has
/// happened.
fn swap_and_restart(
    service: &Service,
    staged: Staged,
    judge: Judge,
    deletions: &Deletions,
    next: impl FnOnce() -> Result<Option<Staged>, Error>,
    unused: &mut Vec<Loc>,
) -> Result<Batch, Error> {
    let timeout = judge.timeout;
    let deadline = timeout.map(|t| Instant::now() + t);
    let Staged {
        moves,
        live,
        deleted,
        starts,
    } = staged;
    let mut failed: Vec<(usize, Failure)> = deleted.into_iter().map(|i| (i, Failure::Deleted)).collect();
    let dirs: Vec<&Loc> = live.iter().map(|&i| &moves[i].dir).collect();
    for (k, r) in wait_started(&dirs, starts, deletions, deadline).into_iter().enumerate() {
        if let Err(f) = r {
            failed.push((live[k], f));
        }
    }
    let is_failed = |failed: &[(usize, Failure)], i: usize| failed.iter().any(|(j, _)| *j == i);
    // Only now, the new supervisors running (held down), do the old
    // services go down, all at once, their old supervisors still in the
    // old trees aside: an instance is down for the stop and the start of
    // its service, not for the scanner's work too. Where no new
    // supervisor came, the old service never stops.
    let stopping: Vec<&Loc> = live
        .iter()
        .filter(|&&i| !is_failed(&failed, i))
        .map(|&i| &moves[i].aside)
        .collect();
    services_down(&stopping, deadline);
    // Every new run of the batch is started at once, then the old
    // supervisors (a deleted instance's too: its name is gone) are told
    // to exit. One that will not is left to the next upgrade (see
    // finish_leftovers). Where no new supervisor came, the old one stays,
    // and its tree goes back.
    let started: Vec<usize> = live.iter().copied().filter(|&i| !is_failed(&failed, i)).collect();
    let going: Vec<Going> = started
        .iter()
        .map(|&i| (&moves[i].dir, moves[i].held_down, moves[i].wanted_up))
        .collect();
    let (runs, mut results) = start_runs(&going, judge);
    let leaving: Vec<&Loc> = live
        .iter()
        .filter(|&&i| failed.iter().all(|(j, f)| *j != i || matches!(f, Failure::Deleted)))
        .map(|&i| &moves[i].aside)
        .collect();
    let exiting = Exiting::tell(&leaving);
    let next = next();
    remove_unused(unused);
    wait_runs(&runs, &mut results, judge, deadline, deletions);
    drop(runs);
    for (&i, r) in started.iter().zip(results) {
        if let Some(Err(f)) = r {
            failed.push((i, f));
        }
    }
    if let Err(Error::Fatal { msg, .. }) = exiting.and_then(|e| e.wait(deadline)) {
        crate::diag::warn(msg);
    }
    failed.sort_by_key(|(i, _)| *i);
    for (i, f) in &failed {
        crate::diag::warn(say(&moves[*i].dir, f));
    }
    // When one of the batch failed, the whole batch goes back, the same
    // way (those that made it too: the batch is one step); those deleted
    // meanwhile are left to their delete.
    let code = failed.iter().find_map(|(_, f)| match f {
        Failure::Failed(code, _) => Some(*code),
        Failure::Deleted => None,
    });
    let back: Vec<usize> = match code {
        None => Vec::new(),
        Some(_) => live
            .iter()
            .copied()
            .filter(|&i| !failed.iter().any(|(j, f)| *j == i && matches!(f, Failure::Deleted)))
            .collect(),
    };
    let next = match (code, next) {
        (Some(_), Ok(Some(n))) => {
            put_back(service, &moves, &back, n, timeout, deletions)?;
            Ok(None)
        }
        (Some(_), next) => {
            put_back(service, &moves, &back, Staged::none(), timeout, deletions)?;
            next.map(|_| None)
        }
        (None, next) => next,
    };
    // What is aside now is the copy no longer used.
    unused.extend(moves.iter().map(|m| m.aside.clone()));
    let mut out: Vec<(usize, Outcome, i32)> = failed
        .into_iter()
        .map(|(i, f)| match f {
            Failure::Failed(code, _) => (i, Outcome::RolledBack, code),
            Failure::Deleted => (i, Outcome::Deleted, EXIT_SYS),
        })
        .collect();
    // The failures first: the first one's code is the upgrade's.
    for i in back {
        if !out.iter().any(|(j, ..)| *j == i) {
            out.push((i, Outcome::RolledBack, code.unwrap_or(EXIT_NOT_RUNNING)));
        }
    }
    Ok((out, next))
}

impl Staged {
    fn none() -> Staged {
        Staged {
            moves: Vec::new(),
            live: Vec::new(),
            deleted: Vec::new(),
            starts: Vec::new(),
        }
    }
}

/// Put the batch `back` (indices into `moves`, each on its new copy, its
/// old supervisor gone) on its old copies, and the staged batch `next`
/// (whose old services never stopped, their supervisors still running
/// in the old trees) on its old trees too, in one scan. The scanner
/// starts a supervisor on each old copy of `back`, and takes the old
/// supervisors of `next` back as they are (the inode it knew): nothing
/// of `next` stops. The new copies' supervisors of `next` are told to
/// exit only once a start in that scan shows it happened (see
/// swap_and_restart); without one, they are left to the next upgrade.
fn put_back(
    service: &Service,
    moves: &[Move],
    back: &[usize],
    next: Staged,
    timeout: Option<Duration>,
    deletions: &Deletions,
) -> Result<(), Error> {
    let back_in = timeout.map(|t| Instant::now() + t);
    // The staged batch's supervisors first started on its new trees: the
    // scanner has seen them, and knows the old ones as gone.
    let staged: Vec<&Loc> = next.live.iter().map(|&i| &next.moves[i].dir).collect();
    let _ = wait_started(&staged, next.starts, deletions, back_in);
    let mut held = Vec::new();
    for &i in back {
        let m = &moves[i];
        held.push(hold_down(&m.aside, m.wanted_up).unwrap_or(false));
        crate::rename::exchange(&m.aside, &m.dir).map_err(|e| Error::sys("put back the old copy of", &m.dir, e))?;
    }
    // One of them deleted meanwhile is left as it is: its old supervisor
    // runs on in its tree aside, which the next command stops and removes.
    let restored: Vec<&Move> = next
        .live
        .iter()
        .map(|&i| &next.moves[i])
        .filter(|m| crate::rename::exchange(&m.aside, &m.dir).is_ok())
        .collect();
    if back.is_empty() && restored.is_empty() {
        return Ok(());
    }
    let dirs: Vec<&Loc> = back.iter().map(|&i| &moves[i].dir).collect();
    let starts = subscribe(&dirs);
    crate::scandir::control(&service.scandir(), b"a")?;
    // Late or never: the new copy's supervisor is stopped all the same.
    let started = wait_started(&dirs, starts, deletions, back_in);
    let scanned = started.iter().any(|r| r.is_ok());
    let mut asides: Vec<&Loc> = back.iter().map(|&i| &moves[i].aside).collect();
    services_down(&asides, back_in);
    if scanned {
        asides.extend(restored.iter().map(|m| &m.aside));
    }
    if let Err(Error::Fatal { msg, .. }) = Exiting::tell(&asides).and_then(|e| e.wait(back_in)) {
        crate::diag::warn(msg);
    }
    remove_unused(&mut next.moves.iter().map(|m| m.aside.clone()).collect());
    // Back as it was: supervised, and up if it was wanted up. Not
    // supervised yet, it stays held, for the next upgrade.
    let going: Vec<Going> = back
        .iter()
        .zip(&held)
        .zip(started)
        .filter(|(_, started)| started.is_ok())
        .map(|((&i, &ours), _)| (&moves[i].dir, ours, moves[i].wanted_up))
        .collect();
    let as_before = Judge {
        wait: Wait::Up,
        min_up: Duration::ZERO,
        timeout,
    };
    let _ = let_go(&going, as_before, back_in, deletions);
    Ok(())
}

/// Bring the services of `dirs` down and their finish scripts to their
/// end, output intact: every service is told to go down before any is
/// waited for, so that a batch is down for as long as its slowest, not
/// for the sum. Best effort: a supervisor just starting or just gone is
/// no error. Their loggers go on, and the supervisors stay.
fn services_down(dirs: &[&Loc], deadline: Option<Instant>) {
    let running: Vec<&Loc> = dirs
        .iter()
        .copied()
        .filter(|d| supervise::is_running(d).unwrap_or(false))
        .collect();
    bring_down(&running, deadline);
}

fn bring_down(dirs: &[impl std::borrow::Borrow<Loc>], deadline: Option<Instant>) {
    let mut watches: Vec<Option<Watch>> = dirs.iter().map(|d| Watch::start(d.borrow()).ok()).collect();
    for d in dirs {
        let _ = supervise::control(d.borrow(), b"d");
    }
    for watch in watches.iter_mut().flatten() {
        let _ = watch.until(Target { up: false, ready: true }, deadline);
    }
}

/// Then have the supervisors of `dirs` exit, the services' first, then
/// the loggers' (brought down in turn), so that the loggers log the
/// services' last words. Nothing to do where no supervisor runs. Told
/// first (`tell`), waited for later (`wait`): the caller has other
/// things to wait for meanwhile.
struct Exiting {
    services: supervise::Exits,
    loggers: Vec<Loc>,
}

impl Exiting {
    fn tell(dirs: &[&Loc]) -> Result<Exiting, Error> {
        let mut services = Vec::new();
        let mut loggers = Vec::new();
        for dir in dirs {
            let both = supervise::with_logger(dir).map_err(|e| Error::sys("read", dir, e))?;
            for (i, d) in both.into_iter().enumerate() {
                if supervise::is_running(&d).unwrap_or(false) {
                    if i == 0 { &mut services } else { &mut loggers }.push(d);
                }
            }
        }
        // Watched first (see supervise::Exits), then told.
        let exits = supervise::Exits::watch(services.iter().cloned())?;
        for d in &services {
            let _ = supervise::control(d, b"x");
        }
        Ok(Exiting {
            services: exits,
            loggers,
        })
    }

    fn wait(self, deadline: Option<Instant>) -> Result<(), Error> {
        waited(self.services.wait(deadline))?;
        bring_down(&self.loggers, deadline);
        exits(&self.loggers, deadline, || {
            for d in &self.loggers {
                let _ = supervise::control(d, b"x");
            }
        })
    }
}

/// Subscribe to the events of each of `dirs` (made if need be), before
/// the scanner is told to start their supervisors.
fn subscribe(dirs: &[&Loc]) -> Vec<Result<Listener, nix::errno::Errno>> {
    dirs.iter()
        .map(|d| {
            let _ = supervise::make_eventdir(d, false, false);
            Listener::subscribe(&supervise::eventdir(d))
        })
        .collect()
}

/// Wait until a supervisor runs on each of `dirs`, from the `s` each
/// sends when it starts (to `listeners`, subscribed before the scanner
/// was told), or until the instance is deleted, or the deadline.
fn wait_started(
    dirs: &[&Loc],
    listeners: Vec<Result<Listener, nix::errno::Errno>>,
    deletions: &Deletions,
    deadline: Option<Instant>,
) -> Vec<Result<(), Failure>> {
    // Subscribed, then a look: a start before the subscription shows.
    let look = |dir: &Loc, l: &Result<Listener, nix::errno::Errno>| {
        if supervise::has_started(dir).unwrap_or(false) {
            Some(Ok(()))
        } else if deletions.gone(dir) {
            Some(Err(Failure::Deleted))
        } else if let Err(e) = l {
            Some(Err(Failure::Failed(
                EXIT_SYS,
                crate::diag::unable("subscribe to events for", dir, *e),
            )))
        } else {
            None
        }
    };
    let mut results: Vec<Option<Result<(), Failure>>> =
        dirs.iter().zip(&listeners).map(|(dir, l)| look(dir, l)).collect();
    if results.iter().all(Option::is_some) {
        // Started already (a staged batch): no inotify instance to make
        // and close, which costs the process a grace period of the kernel.
        return results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect();
    }
    // The scan directory watched, then a second look: a link that goes
    // after it wakes the wait. Without inotify (the per-user limit
    // reached), a deletion is seen only when the wait ends otherwise.
    let mut waiter = crate::wait::Waiter::new().ok();
    if let Some(w) = waiter.as_mut() {
        let _ = w.watch_entries(&deletions.scandir);
    }
    let mut waiting = Vec::new();
    for (k, (dir, l)) in dirs.iter().zip(&listeners).enumerate() {
        if results[k].is_none() {
            results[k] = look(dir, l);
            if results[k].is_none() {
                waiting.push(k);
            }
        }
    }
    let mut r = Ok(());
    if let (false, Some(waiter)) = (waiting.is_empty(), waiter.as_mut()) {
        for &k in &waiting {
            if let Ok(l) = &listeners[k] {
                if let Err(e) = waiter.listen(l) {
                    r = Err(WaitError::Sys(e));
                }
            }
        }
        let pending = |r: &[Option<Result<(), Failure>>]| waiting.iter().any(|&k| r[k].is_none());
        if r.is_ok() {
            r = waiter.run(deadline, None, |wake| {
                match wake {
                    crate::wait::Wake::Event(j, b's') if results[waiting[j]].is_none() => {
                        results[waiting[j]] = Some(Ok(()));
                    }
                    crate::wait::Wake::Entry(_) => {
                        for &k in &waiting {
                            if results[k].is_none() && deletions.gone(dirs[k]) {
                                results[k] = Some(Err(Failure::Deleted));
                            }
                        }
                    }
                    _ => {}
                }
                !pending(&results)
            });
        }
    } else if waiter.is_none() && !waiting.is_empty() {
        r = Err(WaitError::Sys(nix::errno::Errno::EMFILE));
    }
    for &k in &waiting {
        if results[k].is_none() {
            let dir = dirs[k];
            results[k] = Some(match &r {
                // One last look, for a start the deadline hid.
                _ if supervise::has_started(dir).unwrap_or(false) => Ok(()),
                _ if deletions.gone(dir) => Err(Failure::Deleted),
                Err(WaitError::Sys(e)) => Err(Failure::Failed(
                    EXIT_SYS,
                    crate::diag::unable("wait for events of", dir, *e),
                )),
                _ => Err(Failure::Failed(
                    EXIT_TIMEOUT,
                    crate::diag::msg("timed out waiting for s6-supervise to start on ")
                        .path(dir)
                        .into(),
                )),
            });
        }
    }
    results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
}

/// Wait until the supervisors of `dirs` have exited, once `act` has
/// told them to: watched first (see `supervise::Exits`), then `act`.
fn exits(dirs: &[Loc], deadline: Option<Instant>, act: impl FnOnce()) -> Result<(), Error> {
    let exits = supervise::Exits::watch(dirs.iter().cloned())?;
    act();
    waited(exits.wait(deadline))
}

/// How a wait for supervisors to exit ended, said.
fn waited(r: Result<(), (Loc, WaitError)>) -> Result<(), Error> {
    r.map_err(|(d, e)| match e {
        WaitError::Sys(e) => Error::sys("wait for the exit of s6-supervise on", &d, e),
        WaitError::Timeout => crate::diag::msg("timed out waiting for s6-supervise to exit on ")
            .path(&d)
            .fatal(EXIT_TIMEOUT),
    })
}

/// How the new runs of a batch are judged: up and ready where the wait
/// is for readiness and the instance notifies it (its `notification-fd`),
/// else up and still up `min_up` later (or at the deadline, if that
/// comes first): a run that dies at once, and is restarted a second
/// later by its supervisor, is a failure, not an upgrade.
#[derive(Clone, Copy)]
pub struct Judge {
    pub wait: Wait,
    pub min_up: Duration,
    pub timeout: Option<Duration>,
}

/// One instance let go: its directory, whether the `down` file that
/// held it is ours to remove, and whether it is wanted up.
type Going<'a> = (&'a Loc, bool, bool);

/// On supervised instances: remove the `down` files that held them if
/// they are ours, start every one that is wanted up (even where its own
/// `down` file, an instance normally down brought up by hand, would keep
/// it down), all at once, then wait for them all together, each judged
/// alone (see `Judge`), until `deadline`. Returns how each came out: a
/// failure says how (exited with N, killed by SIG, not up or ready in
/// time, failed for good), and names only that instance.
fn let_go(going: &[Going], judge: Judge, deadline: Option<Instant>, deletions: &Deletions) -> Vec<Result<(), Failure>> {
    let (runs, mut results) = start_runs(going, judge);
    wait_runs(&runs, &mut results, judge, deadline, deletions);
    results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
}

/// The first half of `let_go`: each of `going` told to start, and
/// watched; how those that need no wait came out.
type Started<'a> = (Vec<Run<'a>>, Vec<Option<Result<(), Failure>>>);

fn start_runs<'a>(going: &[Going<'a>], judge: Judge) -> Started<'a> {
    let as_failure = |e: Error| match e {
        Error::Fatal { code, msg } | Error::Warned { code, msg } => Failure::Failed(code, msg),
        Error::Usage | Error::UsageLine(_) => Failure::Failed(EXIT_SYS, b"unable to watch the instance".to_vec()),
    };
    let mut results: Vec<Option<Result<(), Failure>>> = Vec::new();
    let mut runs: Vec<Run> = Vec::new();
    for &(dir, held_down, wanted_up) in going {
        // Running: the down file that held it is ours to remove, once the
        // supervisor has been told `u` if the instance is wanted up
        // (killed in between, the file still says it was held).
        let release = || {
            if held_down {
                let _ = dir.join("down").unlink();
            }
        };
        if !wanted_up {
            release();
            results.push(Some(Ok(())));
            continue;
        }
        // Subscribed, then told: no event is missed.
        match Watch::start(dir) {
            Ok(watch) => {
                let _ = supervise::control(dir, b"u");
                release();
                let ready = judge.wait == Wait::Ready && dir.join("notification-fd").present();
                let up_since = watch.is_up().then(Instant::now);
                runs.push(Run {
                    at: results.len(),
                    dir,
                    watch,
                    ready,
                    up_since,
                });
                results.push(None);
            }
            Err(e) => results.push(Some(Err(as_failure(e)))),
        }
    }
    (runs, results)
}

/// A new run being waited for.
struct Run<'a> {
    /// Its place in the results.
    at: usize,
    dir: &'a Loc,
    watch: Watch,
    /// Judged by readiness, not by time up.
    ready: bool,
    /// Since when it has been up, as its events say.
    up_since: Option<Instant>,
}

/// The wait of `let_go`, on every run at once: their events (a deleted
/// instance's supervisor, told by the scanner, says `x`), and, for the
/// runs judged by time up, a wake when the first of them has been up
/// long enough.
fn wait_runs(
    runs: &[Run],
    results: &mut [Option<Result<(), Failure>>],
    judge: Judge,
    deadline: Option<Instant>,
    deletions: &Deletions,
) {
    if runs.is_empty() {
        return;
    }
    let mut up_since: Vec<Option<Instant>> = runs.iter().map(|r| r.up_since).collect();
    let mut waiter = match crate::wait::Waiter::new() {
        Ok(w) => w,
        Err(e) => {
            for r in runs {
                results[r.at] = Some(Err(unwatched(r.dir, e)));
            }
            return;
        }
    };
    // No inotify here (closing one costs the process a grace period of
    // the kernel, milliseconds per batch): a deleted instance's
    // supervisor is told by the scanner to exit, and its `x` ends the
    // wait.
    for r in runs {
        if let Err(e) = waiter.listen(r.watch.listener()) {
            results[r.at] = Some(Err(unwatched(r.dir, e)));
        }
    }
    let settled = |results: &mut [Option<Result<(), Failure>>], up_since: &[Option<Instant>], now: Instant| {
        for (k, r) in runs.iter().enumerate() {
            if results[r.at].is_none() && !r.ready && up_since[k].is_some_and(|t| now >= t + judge.min_up) {
                results[r.at] = Some(Ok(()));
            }
        }
    };
    loop {
        settled(results, &up_since, Instant::now());
        if runs.iter().all(|r| results[r.at].is_some()) {
            return;
        }
        // Wake at the deadline, or when the first run judged by time up
        // has been up long enough, whichever comes first.
        let stable_at = runs
            .iter()
            .zip(&up_since)
            .filter(|(r, _)| results[r.at].is_none() && !r.ready)
            .filter_map(|(_, t)| t.map(|t| t + judge.min_up))
            .min();
        let wake = match (deadline, stable_at) {
            (Some(d), Some(s)) => Some(d.min(s)),
            (d, s) => d.or(s),
        };
        // A run newly up ends this wait too: the next wake is then
        // worked out again, with its time.
        let mut newly_up = false;
        let r = waiter.run(wake, None, |w| {
            if let crate::wait::Wake::Event(j, ev) = w {
                let run = &runs[j];
                if results[run.at].is_none() {
                    match ev {
                        b'u' | b'U' if up_since[j].is_none() => {
                            up_since[j] = Some(Instant::now());
                            newly_up = !run.ready;
                        }
                        _ => {}
                    }
                    results[run.at] = match ev {
                        b'U' if run.ready => Some(Ok(())),
                        b'u' if !run.ready && judge.min_up.is_zero() => Some(Ok(())),
                        b'd' => Some(Err(died(run.dir))),
                        b'x' if deletions.gone(run.dir) => Some(Err(Failure::Deleted)),
                        b'O' | b'x' => Some(Err(Failure::Failed(
                            EXIT_NOT_RUNNING,
                            crate::svwait::failed_permanently(run.dir).into(),
                        ))),
                        _ => None,
                    };
                }
            }
            newly_up || runs.iter().all(|r| results[r.at].is_some())
        });
        match r {
            Ok(()) => continue,
            Err(WaitError::Timeout) if deadline.is_some_and(|d| Instant::now() >= d) => break,
            Err(WaitError::Timeout) => continue,
            Err(WaitError::Sys(e)) => {
                for run in runs {
                    if results[run.at].is_none() {
                        results[run.at] = Some(Err(unwatched(run.dir, e)));
                    }
                }
                return;
            }
        }
    }
    // The deadline: a run judged by time up that came up and stayed up
    // until now made it; the others did not, in time.
    let within = judge.timeout.map_or(0, |t| t.as_millis());
    for (k, run) in runs.iter().enumerate() {
        if results[run.at].is_some() {
            continue;
        }
        results[run.at] = Some(match (run.ready, up_since[k]) {
            (false, Some(_)) => Ok(()),
            (true, Some(_)) => Err(late(run.dir, &format!("not ready within {within} ms"))),
            _ => Err(late(run.dir, &format!("not up within {within} ms"))),
        });
    }
}

/// A run whose events could not be waited for.
fn unwatched(dir: &Loc, e: nix::errno::Errno) -> Failure {
    Failure::Failed(EXIT_SYS, crate::diag::unable("wait for events of", dir, e))
}

/// A run that died: how, from its supervisor's record.
fn died(dir: &Loc) -> Failure {
    let how = match crate::svstatus::Status::read(dir) {
        Ok(st) => {
            let w = i32::from(st.wstat);
            if libc::WIFSIGNALED(w) {
                let sig =
                    nix::sys::signal::Signal::try_from(libc::WTERMSIG(w)).map_or("an unknown signal", |s| s.as_str());
                format!("killed by {sig}")
            } else {
                format!("exited with {}", libc::WEXITSTATUS(w))
            }
        }
        Err(_) => "died".to_string(),
    };
    Failure::Failed(
        EXIT_NOT_RUNNING,
        crate::diag::msg("new copy failed on ")
            .path(dir)
            .text(": its run ")
            .text(how)
            .into(),
    )
}

/// A run not where it should be by the deadline (exit 99).
fn late(dir: &Loc, what: &str) -> Failure {
    Failure::Failed(
        EXIT_TIMEOUT,
        crate::diag::msg("new copy failed on ")
            .path(dir)
            .text(": ")
            .text(what)
            .into(),
    )
}

/// Instances a killed upgrade left held down (our `down` file in them)
/// that this upgrade does not move: once a supervisor runs on each, it is
/// let go as the file says it was wanted, up or down, and the file goes.
/// Not while another upgrade runs (its own instances are held down on
/// their way).
fn release_held(service: &Service, skip: &[PathBuf], deadline: Option<Instant>) {
    let instances = service.instances();
    let others = instances.entries().into_iter().flatten().any(|name| {
        let b = name.as_bytes();
        b.starts_with(b".s6i-upgrade:")
            && !crate::leftovers::leftover_mine(b)
            && crate::leftovers::leftover_alive(&instances, b)
    });
    if others {
        return;
    }
    let Ok(names) = service.instance_names() else {
        return;
    };
    let held: Vec<(Loc, bool)> = names
        .iter()
        .filter(|n| !skip.iter().any(|s| s.as_os_str() == n.as_os_str()))
        .map(|n| service.instance_dir(n))
        .filter_map(|d| held_by_us(&d).map(|up| (d, up)))
        .collect();
    if held.is_empty() {
        return;
    }
    let deletions = Deletions::watch(service);
    let dirs: Vec<&Loc> = held.iter().map(|(d, _)| d).collect();
    let starts = subscribe(&dirs);
    let _ = crate::scandir::control(&service.scandir(), b"a");
    for ((dir, up), started) in held.iter().zip(wait_started(&dirs, starts, &deletions, deadline)) {
        if started.is_ok() {
            if *up {
                let _ = supervise::control(dir, b"u");
            }
            let _ = dir.join("down").unlink();
        }
    }
}
