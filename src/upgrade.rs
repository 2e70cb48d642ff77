//! Moving running instances onto the current template, a few at a time,
//! watching each come back up, and putting back the first that does not.
//!
//! For each instance: a fresh copy of the template, under a hidden name
//! beside it, is given the instance's own state (its `down` files, and
//! every file the template does not have, such as an environment written
//! after cloning), and a `down` file that holds it down. The two trees
//! are then swapped whole (RENAME_EXCHANGE): `instances/NAME` is at every
//! moment one whole copy, the old or the new. The scanner, told at once,
//! starts a supervisor on the new tree (held down) and forgets the old
//! one, whose supervisor, still in the old tree, brings the service down
//! (its finish script's output intact) and, once the new supervisor
//! runs, exits. Then the new service
//! is let go, and must be up (or up and ready) in time. If not, the same
//! dance in reverse puts the old tree back.
//!
//! A killed upgrade leaves, at worst, an instance on the new tree with its
//! old supervisor still running in the old one, under a hidden name: the
//! next upgrade or create has the scanner stop that supervisor (and
//! start the instance's own) and removes the old tree once its creator
//! is gone.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::copy;
use crate::diag::{bytes, Error, EXIT_NOT_RUNNING, EXIT_SYS, EXIT_TIMEOUT};
use crate::layout::Service;
use crate::supervise;
use crate::svwait::{Target, Watch};

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
}

/// One instance on its way: where its trees are.
struct Move {
    /// `instances/NAME`.
    dir: PathBuf,
    /// The hidden name: the new copy before the swap, the old one after.
    aside: PathBuf,
    /// Whether the instance was wanted up: only then must it come up.
    wanted_up: bool,
    /// Whether the `down` file that holds the new copy down until its
    /// supervisor runs is ours, to remove then (rather than the
    /// instance's own).
    held_down: bool,
}

/// Upgrade `names` (all instances when empty), `parallel` at a time.
/// Returns how each came out; when one fails, the error says which copy
/// each runs, and its code is 1 (failed) or 99 (timed out).
pub fn upgrade(
    service: &Service,
    names: &[&OsStr],
    parallel: usize,
    wait: Option<Wait>,
    timeout: Option<Duration>,
) -> Result<Vec<(PathBuf, Outcome)>, Error> {
    let template = service.template()?;
    let wait = wait.unwrap_or(if template.join("notification-fd").exists() {
        Wait::Ready
    } else {
        Wait::Up
    });
    finish_leftovers(service);
    // An instance is a link and its directory. Every name is checked
    // before anything moves; listed, a link without its directory (going
    // away) is left out.
    let whole = |name: &OsStr| service.link(name).is_dir() && service.instance_dir(name).is_dir();
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
            let msg = [&b"no instance named "[..], name.as_os_str().as_bytes()].concat();
            return Err(Error::new(crate::diag::EXIT_USAGE, msg));
        }
    }
    let mut report: Vec<(PathBuf, Outcome)> = todo.iter().map(|n| (n.clone(), Outcome::Untouched)).collect();
    for (b, batch) in todo.chunks(parallel.max(1)).enumerate() {
        let first = b * parallel.max(1);
        let mut moves: Vec<Move> = Vec::new();
        for name in batch {
            match prepare(service, &template, name) {
                Ok(m) => moves.push(m),
                Err(e) => {
                    // Nothing of this batch has moved: its copies go.
                    for m in &moves {
                        copy::discard(&m.aside);
                    }
                    return Err(e);
                }
            }
        }
        let failed = swap_and_restart(service, &moves, wait, timeout)?;
        for i in 0..moves.len() {
            report[first + i].1 = if failed.iter().any(|(j, _)| *j == i) {
                Outcome::RolledBack
            } else {
                Outcome::Upgraded
            };
        }
        if let Some(&(_, code)) = failed.first() {
            return Err(rolled_back(report, code));
        }
    }
    Ok(report)
}

/// The error of an upgrade that stopped: every instance's copy, and why.
fn rolled_back(report: Vec<(PathBuf, Outcome)>, code: i32) -> Error {
    let mut msg = b"upgrade stopped:".to_vec();
    for (name, outcome) in &report {
        msg.push(b' ');
        msg.extend_from_slice(name.as_os_str().as_bytes());
        msg.extend_from_slice(match outcome {
            Outcome::Upgraded => b"=new",
            Outcome::RolledBack => b"=old(rolled back)",
            Outcome::Untouched => b"=old",
        });
    }
    Error::new(code, msg)
}

/// The new copy of one instance, ready beside it.
fn prepare(service: &Service, template: &Path, name: &Path) -> Result<Move, Error> {
    let dir = service.instance_dir(name.as_os_str());
    // A down file of ours that a killed upgrade left: the instance was
    // held down on its way, not by its own choice.
    let left_held = held_by_us(&dir);
    let aside = copy::hidden_sibling(&dir, "upgrade");
    let failed = |e: nix::errno::Errno| {
        copy::discard(&aside);
        Error::sys("make a new copy for", &dir, e)
    };
    // Root's alone until the end (see copy::Private): the instance's own
    // files are copied in, and the down file written, where its user
    // cannot reach.
    let made = copy::copy_template(template, &aside).map_err(failed)?;
    // Nothing is written through a `log` symlink of the template (ELOOP).
    supervise::with_logger(&aside).map_err(failed)?;
    keep_own_state(&dir, &aside).map_err(failed)?;
    // Event fifodirs as the old ones were: public (create's -P) or not.
    let public = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(supervise::eventdir(&dir)).is_ok_and(|md| md.permissions().mode() & 0o7777 == 0o1733)
    };
    for d in supervise::with_logger(&aside).map_err(failed)? {
        crate::fifodir::make(&supervise::eventdir(&d), public, false).map_err(failed)?;
    }
    // Wanted up: as its supervisor says, or, with none running (a killed
    // upgrade left it so), as its down file says.
    let wanted_up = left_held
        || match supervise::is_running(&dir) {
            Ok(true) => crate::svstatus::Status::read(&dir).map_or(true, |st| st.wantup),
            _ => !dir.join("down").exists(),
        };
    let held_down = hold_down(&aside).map_err(failed)?;
    made.publish();
    Ok(Move {
        dir,
        aside,
        wanted_up,
        held_down,
    })
}

/// Give the new copy what belongs to the instance, not to the template:
/// its `down` files as they are, and every entry the template does not
/// have (the supervisor's own `supervise` and `event` excepted).
fn keep_own_state(old: &Path, new: &Path) -> Result<(), nix::errno::Errno> {
    for sub in [Path::new(""), Path::new("log")] {
        let (o, n) = (old.join(sub), new.join(sub));
        if !n.is_dir() {
            continue;
        }
        let own_down = o.join("down").exists() && !held_by_us(&o);
        match (own_down, n.join("down").exists()) {
            (true, false) => {
                std::fs::write(n.join("down"), b"").map_err(|e| crate::diag::errno_of(&e))?;
            }
            (false, true) => std::fs::remove_file(n.join("down")).map_err(|e| crate::diag::errno_of(&e))?,
            _ => {}
        }
    }
    add_missing(old, new, Path::new(""))
}

/// The entries of `old/rel` that `new/rel` lacks are copied in; the old
/// tree, the instance user's, is read by descriptor, never through a
/// link (see copy::copy_entry).
fn add_missing(old: &Path, new: &Path, rel: &Path) -> Result<(), nix::errno::Errno> {
    let top = rel.as_os_str().is_empty();
    for (name, is_dir) in copy::entries_below(old, rel)? {
        let runtime = matches!(name.as_bytes(), b"supervise" | b"event" | b".s6i-pending");
        if runtime && (top || rel.ends_with("log")) {
            continue;
        }
        let (from, to) = (rel.join(&name), new.join(rel).join(&name));
        match std::fs::symlink_metadata(&to) {
            Err(_) => copy::copy_entry(old, &from, &to)?,
            Ok(md) if md.is_dir() && is_dir => add_missing(old, new, &from)?,
            Ok(_) => {}
        }
    }
    Ok(())
}

/// A copy is swapped in held down (a `down` file, ours unless it has its
/// own): its new supervisor must not start the service while the old one
/// still runs. Returns whether the file is ours.
fn hold_down(dir: &Path) -> Result<bool, nix::errno::Errno> {
    let down = dir.join("down");
    if down.exists() {
        return Ok(false);
    }
    // Never through a symlink the instance's user planted: a dangling one
    // (no down file to s6-supervise) goes, and ours is made new.
    let _ = std::fs::remove_file(&down);
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&down)
        .map_err(|e| crate::diag::errno_of(&e))?;
    f.write_all(HELD).map_err(|e| crate::diag::errno_of(&e))?;
    Ok(true)
}

/// Whether the `down` file of `dir` is one of ours, left by a killed
/// upgrade: not the instance's own, so not carried to its new copy.
fn held_by_us(dir: &Path) -> bool {
    std::fs::read(dir.join("down")).is_ok_and(|b| b == HELD)
}

/// What our own `down` files say, so that one a killed upgrade left is
/// told from the instance's.
const HELD: &[u8] = b"held down by s6-instance-upgrade\n";

/// Swap every copy in, held down; have the scanner see the new trees at
/// once, bring the old services down while it starts a supervisor on
/// each new tree, and only once those run have the old supervisors exit;
/// then let the new ones start their services and wait. The instances
/// that do not make it are put back on their old copies the same way;
/// returns their indices and exit codes.
///
/// The order matters: a supervisor that exits before the scanner has
/// seen its tree go is, to the scanner, a service that died. s6 2.11
/// restarts it on whatever tree then has the name; s6 2.13 keeps its
/// record for good, and a later tree that reuses the inode number is
/// never started. A supervisor on the new tree shows that the scan has
/// happened.
fn swap_and_restart(
    service: &Service,
    moves: &[Move],
    wait: Wait,
    timeout: Option<Duration>,
) -> Result<Vec<(usize, i32)>, Error> {
    let deadline = timeout.map(|t| Instant::now() + t);
    for m in moves {
        copy::exchange(&m.aside, &m.dir).map_err(|e| Error::sys("swap in a new copy for", &m.dir, e))?;
    }
    crate::scandir::control(&service.scandir(), b"a")?;
    // The old trees are now aside: their services go down, all at once,
    // while the scanner starts the new supervisors.
    let asides: Vec<&Path> = moves.iter().map(|m| m.aside.as_path()).collect();
    services_down(&asides, deadline);
    let mut failed = Vec::new();
    for (i, m) in moves.iter().enumerate() {
        if let Err((code, msg)) = supervised(&m.dir, deadline) {
            crate::diag::warn(msg);
            failed.push((i, code));
        }
    }
    // Then their supervisors exit. One that will not is left to the next
    // upgrade or create (finish_leftovers). Where no new supervisor came,
    // the old one stays, and its tree goes back.
    let asides: Vec<&Path> = (0..moves.len())
        .filter(|i| !failed.iter().any(|(j, _)| j == i))
        .map(|i| moves[i].aside.as_path())
        .collect();
    if let Err(Error::Fatal { msg, .. }) = supervisors_exit(&asides, deadline) {
        crate::diag::warn(msg);
    }
    for (i, m) in moves.iter().enumerate() {
        if failed.iter().any(|(j, _)| *j == i) {
            continue;
        }
        if let Err((code, msg)) = let_go(&m.dir, m.held_down, m.wanted_up, wait, deadline) {
            crate::diag::warn(msg);
            failed.push((i, code));
        }
    }
    failed.sort();
    // Those that failed go back, the same way; those that made it stay.
    let mut held = Vec::new();
    for &(i, _) in &failed {
        let m = &moves[i];
        held.push(hold_down(&m.aside).unwrap_or(false));
        copy::exchange(&m.aside, &m.dir).map_err(|e| Error::sys("put back the old copy of", &m.dir, e))?;
    }
    if !failed.is_empty() {
        crate::scandir::control(&service.scandir(), b"a")?;
        let back_in = Some(Instant::now() + Duration::from_secs(10));
        for &(i, _) in &failed {
            // Late or never: the new copy's supervisor is stopped all the same.
            let _ = supervised(&moves[i].dir, back_in);
        }
        let back: Vec<&Path> = failed.iter().map(|&(i, _)| moves[i].aside.as_path()).collect();
        services_down(&back, back_in);
        if let Err(Error::Fatal { msg, .. }) = supervisors_exit(&back, back_in) {
            crate::diag::warn(msg);
        }
        for (&(i, _), &ours) in failed.iter().zip(&held) {
            let m = &moves[i];
            // Back as it was: supervised, and up if it was wanted up.
            let _ = let_go(
                &m.dir,
                ours,
                m.wanted_up,
                Wait::Up,
                Some(Instant::now() + Duration::from_secs(10)),
            );
        }
    }
    // What is aside now is the copy no longer used; one whose supervisor
    // has not gone yet is removed by the next upgrade or create.
    for m in moves {
        if !supervise::is_running(&m.aside).unwrap_or(false) {
            let _ = copy::remove_tree(&m.aside);
        }
    }
    Ok(failed)
}

/// Bring the services of `dirs` down and their finish scripts to their
/// end, output intact: every service is told to go down before any is
/// waited for, so that a batch is down for as long as its slowest, not
/// for the sum. Best effort: a supervisor just starting or just gone is
/// no error. Their loggers go on, and the supervisors stay.
fn services_down(dirs: &[&Path], deadline: Option<Instant>) {
    let running: Vec<&Path> = dirs
        .iter()
        .copied()
        .filter(|d| supervise::is_running(d).unwrap_or(false))
        .collect();
    bring_down(&running, deadline);
}

fn bring_down(dirs: &[impl AsRef<Path>], deadline: Option<Instant>) {
    let mut watches: Vec<Option<Watch>> = dirs.iter().map(|d| Watch::start(d.as_ref()).ok()).collect();
    for d in dirs {
        let _ = supervise::control(d.as_ref(), b"d");
    }
    for watch in watches.iter_mut().flatten() {
        let _ = watch.until(Target { up: false, ready: true }, deadline);
    }
}

/// Then have the supervisors of `dirs` exit, the services' first, then
/// the loggers' (brought down in turn), so that the loggers log the
/// services' last words. Nothing to do where no supervisor runs.
fn supervisors_exit(dirs: &[&Path], deadline: Option<Instant>) -> Result<(), Error> {
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
    for (group, is_logger) in [(services, false), (loggers, true)] {
        if is_logger {
            bring_down(&group, deadline);
        }
        for d in &group {
            let _ = supervise::control(d, b"x");
        }
        for d in &group {
            while supervise::is_running(d).unwrap_or(false) {
                if deadline.is_some_and(|dl| Instant::now() > dl) {
                    return Err(Error::new(
                        EXIT_TIMEOUT,
                        [&b"timed out waiting for s6-supervise to exit on "[..], bytes(d)].concat(),
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    Ok(())
}

/// Wait until a supervisor runs on `dir`; on failure, the exit code and
/// why.
fn supervised(dir: &Path, deadline: Option<Instant>) -> Result<(), (i32, Vec<u8>)> {
    while !supervise::has_started(dir).unwrap_or(false) {
        if deadline.is_some_and(|dl| Instant::now() > dl) {
            return Err((
                EXIT_TIMEOUT,
                [&b"timed out waiting for s6-supervise to start on "[..], bytes(dir)].concat(),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// On a supervised `dir`: remove the `down` file that held it if it is
/// ours, and, if the instance is wanted up, start it and wait until it is
/// up (and ready, for `Wait::Ready`). On failure, the exit code and why.
fn let_go(
    dir: &Path,
    held_down: bool,
    wanted_up: bool,
    wait: Wait,
    deadline: Option<Instant>,
) -> Result<(), (i32, Vec<u8>)> {
    supervised(dir, deadline)?;
    // Running: the down file that held it is ours to remove, once the
    // supervisor has been told `u` if the instance is wanted up (killed in
    // between, the file still says it was held).
    let release = || {
        if held_down {
            let _ = std::fs::remove_file(dir.join("down"));
        }
    };
    if !wanted_up {
        release();
        return Ok(());
    }
    let as_pair = |e: Error| match e {
        Error::Fatal { code, msg } | Error::Warned { code, msg } => (code, msg),
        Error::Usage | Error::UsageLine(_) => (EXIT_SYS, b"unable to watch the instance".to_vec()),
    };
    let mut watch = Watch::start(dir).map_err(as_pair)?;
    // Wanted up, it must come up even where its down file (an instance
    // normally down, brought up by hand) would keep it down.
    let _ = supervise::control(dir, b"u");
    release();
    let target = Target {
        up: true,
        ready: wait == Wait::Ready,
    };
    match watch.until(target, deadline) {
        Ok(true) => Ok(()),
        Ok(false) => Err((
            EXIT_NOT_RUNNING,
            [bytes(dir), &b" failed permanently or its supervisor died"[..]].concat(),
        )),
        Err(e) => Err(as_pair(e)),
    }
}

/// What killed steps left in `instances/`: the copies of a killed create
/// or upgrade are removed, and old trees aside whose supervisors still
/// run (a killed upgrade's) are stopped first (the scanner then starts
/// the instances' own), then removed. One look at the directory.
pub fn finish_leftovers(service: &Service) {
    let running = copy::sweep_leftovers(&service.instances());
    if running.is_empty() {
        return;
    }
    // The scanner stops them, as s6-instance-delete has it do: it scans
    // first, and so knows them gone before they exit (see
    // swap_and_restart), then signals every supervisor it has no link
    // for.
    let _ = crate::scandir::control(&service.scandir(), b"an");
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.iter().any(|d| supervise::is_running(d).unwrap_or(false)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Gone or not, what is left of them is for the next look.
    let _ = copy::sweep_leftovers(&service.instances());
}
