//! An instance's managed environment, two envdirs as `s6-envdir` reads
//! them (one file per variable) in `SV/instances/NAME/`:
//!
//! - `instance-env/`: the instance's own variables, those its set line
//!   (or s6i-env's block) gave it, and nothing else. No copy of a
//!   template ever writes that name: not ours, not s6's, not
//!   s6-rc-update's, which replaces `env/` (and every other name of a
//!   service directory) in each instance with the new template's while
//!   the instanced service runs on. It is what says which values are the
//!   instance's.
//! - `env/`: the template's own `env/` (defaults for every instance) with
//!   the instance's variables added or replacing, for templates that
//!   read `env/` alone (made before `instance-env/` was).
//!
//! A template's run reads both, defaults first: `s6-envdir env
//! s6-envdir -I instance-env prog...`; after s6-rc-update has put new
//! defaults in `env/`, the instance still runs on its own values.
//! What sync (`-f`, `-E`, stdin) and s6i-env share: compute them,
//! compare the instance's own values with what is there, and swap new
//! ones in whole.
//!
//! Each swap: the new directory is written under a hidden name in the
//! instance directory (`.s6i-env:PID:RANDOM`), root's alone (0700) until
//! complete, its files 0644; then it gets mode 0755 and the owner of the
//! instance directory (on its descriptor), and is exchanged with `env/`
//! (renameat2 RENAME_EXCHANGE; a plain rename when there is none).
//! The old one, now under the hidden name, is removed. A reader sees the
//! old directory or the new one, never half of either. `env/` is swapped
//! first, `instance-env/` last: a chain killed between the two leaves
//! the old own values, which differ from the wanted ones, so the next
//! sync does both again. A chain killed midway leaves only the hidden
//! directory, which the next sync or s6i-env on that instance removes
//! (its pid is dead).
//!
//! Everything below the instance directory is reached from a descriptor
//! of it, opened without following a link: the instance's user owns it
//! and may have planted links.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fchmod, fstat, mkdirat, Mode, SFlag};
use nix::unistd::{fchown, Gid, Uid};

use crate::diag::{Error, EXIT_USAGE};
use crate::door::Loc;

/// The most a variable's value may hold, in a set line and in an
/// instance's `env/` file (less its newline): a file over it is never
/// read whole.
pub const VALUE_MAX: usize = 64 * 1024;

/// Variables: the file name (the key) and the file's whole contents.
pub type Env = BTreeMap<OsString, Vec<u8>>;

/// The name of the managed envdir in an instance directory (defaults
/// and own values merged).
pub const ENV: &str = "env";
/// The name of the envdir of the instance's own values alone, which no
/// template copy overwrites (see the top of this file).
pub const OWN: &str = "instance-env";
/// The tag of the hidden directory a swap builds (`.s6i-env:PID:RANDOM`).
const TAG: &str = "env";

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// One `KEY=VALUE` word, checked: the key is not empty, holds no `/`
/// and does not begin with a dot, the value holds no NUL and is at most
/// VALUE_MAX bytes. The file gets the value
/// and a newline. The error says why, for the caller's message.
pub fn parse_var(word: &[u8]) -> Result<(OsString, Vec<u8>), Vec<u8>> {
    let Some(eq) = word.iter().position(|&b| b == b'=') else {
        return Err(crate::diag::msg("word without =: ").text(word).into());
    };
    let (key, value) = (&word[..eq], &word[eq + 1..]);
    check_key(key)?;
    // s6-envdir skips such a file: the variable would never be set.
    if key.starts_with(b".") {
        return Err(crate::diag::msg("invalid key: ")
            .text(key)
            .text(": it begins with a dot, which s6-envdir skips")
            .into());
    }
    if value.contains(&0) {
        return Err(crate::diag::msg("value of ").text(key).text(" holds a NUL byte").into());
    }
    if value.len() > VALUE_MAX {
        let over = format!(" is over {VALUE_MAX} bytes");
        return Err(crate::diag::msg("value of ").text(key).text(over).into());
    }
    let mut contents = value.to_vec();
    contents.push(b'\n');
    Ok((OsString::from_vec(key.to_vec()), contents))
}

/// A key is a file name in `env/`.
pub fn check_key(key: &[u8]) -> Result<(), Vec<u8>> {
    if key.is_empty() {
        return Err(b"empty key".to_vec());
    }
    if key.contains(&b'/') || key.contains(&b'=') || key == b"." || key == b".." || key.contains(&0) {
        return Err(crate::diag::msg("invalid key: ").text(key).into());
    }
    Ok(())
}

/// What reading an envdir found: its variables, or the first entry that
/// is not a regular file.
pub enum Found {
    Env(Env),
    NotRegular(OsString),
    /// A file over VALUE_MAX (and its newline), not read.
    TooBig(OsString),
}

/// Read the envdir open at `dir`: every entry must be a regular file
/// (opened without following a link or blocking on a FIFO).
fn read_at(dir: OwnedFd) -> Result<Found, Errno> {
    let mut d = Dir::from_fd(dir)?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let b = entry.file_name().to_bytes();
        if b != b"." && b != b".." {
            names.push(OsString::from_vec(b.to_vec()));
        }
    }
    let mut env = Env::new();
    for name in names {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match openat(d.as_fd(), name.as_os_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ELOOP | Errno::ENXIO) => return Ok(Found::NotRegular(name)),
            Err(e) => return Err(e),
        };
        let st = fstat(&fd)?;
        if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
            return Ok(Found::NotRegular(name));
        }
        if st.st_size as u64 > VALUE_MAX as u64 + 1 {
            return Ok(Found::TooBig(name));
        }
        let contents = match crate::door::read_bounded(fd, VALUE_MAX + 1) {
            Ok(contents) => contents,
            Err(crate::door::TOO_BIG) => return Ok(Found::TooBig(name)),
            Err(e) => return Err(e),
        };
        env.insert(name, contents);
    }
    Ok(Found::Env(env))
}

/// Read the envdir at `dir` (no link followed below its top).
pub fn read_dir(dir: &Loc) -> Result<Found, Errno> {
    read_at(dir.open_dir()?)
}

/// The defaults of the instances of `service` (its template's `env/`)
/// where some are `needed` (a set that gives variables), and none
/// read otherwise.
pub fn defaults(service: &crate::layout::Service, needed: bool) -> Result<Env, Error> {
    if needed {
        template_env(&service.template()?)
    } else {
        Ok(Env::new())
    }
}

/// The template's `env/`, if it has one: the defaults of every
/// instance. One that is not a directory, or holds anything but regular
/// files, is refused (exit 100).
pub fn template_env(template: &Loc) -> Result<Env, Error> {
    let t = template.open_dir().map_err(|e| Error::sys("open", template, e))?;
    let path = template.join(ENV);
    let dir = match openat(&t, ENV, DIR_FLAGS, Mode::empty()) {
        Ok(d) => d,
        Err(Errno::ENOENT) => return Ok(Env::new()),
        Err(e @ (Errno::ELOOP | Errno::ENOTDIR)) => return Err(Error::sys_code(EXIT_USAGE, "use", &path, e)),
        Err(e) => return Err(Error::sys("open", &path, e)),
    };
    match read_at(dir).map_err(|e| Error::sys("read", &path, e))? {
        Found::Env(env) => Ok(env),
        Found::NotRegular(name) => {
            let msg = crate::diag::msg("unable to use ").path(&path.join(name));
            Err(msg.text(": not a regular file").fatal(EXIT_USAGE))
        }
        Found::TooBig(name) => Err(Error::sys_code(
            EXIT_USAGE,
            "use",
            &path.join(name),
            crate::door::TOO_BIG,
        )),
    }
}

/// The template's variables with `vars` added or replacing.
pub fn overlay(base: &Env, vars: impl IntoIterator<Item = (OsString, Vec<u8>)>) -> Env {
    let mut env = base.clone();
    env.extend(vars);
    env
}

/// The instance directory `dir`, opened without following a link.
fn open_instance(dir: &Loc) -> Result<OwnedFd, Errno> {
    dir.open_dir()
}

/// The `env/` of the instance open at `dfd`: Ok(None) when there is
/// none; Err(()) inside when it is no plain envdir (a link, a file, a
/// subdirectory in it), which differs from every wanted one.
/// A file over VALUE_MAX is named in `Err(Some(name))`, to be said: it
/// was not read.
/// A concurrent sync may swap `env/` out and empty it while it is read:
/// a file listed and then gone is that, and `env/` is opened again, a
/// few times (each swap leaves a whole new one in its place).
fn current_at(dfd: BorrowedFd, which: &str) -> Result<Result<Option<Env>, Option<OsString>>, Errno> {
    let mut tries = 8;
    loop {
        let found = match openat(dfd, which, DIR_FLAGS, Mode::empty()) {
            Ok(d) => read_at(d),
            Err(Errno::ENOENT) => return Ok(Ok(None)),
            Err(Errno::ELOOP | Errno::ENOTDIR) => return Ok(Err(None)),
            Err(e) => return Err(e),
        };
        return match found {
            Ok(Found::Env(env)) => Ok(Ok(Some(env))),
            Ok(Found::NotRegular(_)) => Ok(Err(None)),
            Ok(Found::TooBig(name)) => Ok(Err(Some(name))),
            Err(Errno::ENOENT) if tries > 0 => {
                tries -= 1;
                continue;
            }
            Err(e) => Err(e),
        };
    }
}

/// Whether the instance at `dir` needs its values changed to be `own`
/// over `defaults`. With an `instance-env/`, that is compared with
/// `own`, names and contents byte for byte; and `env/` must be what we
/// write (`own` over `defaults`) or the template's own `env/` (what a
/// template copy puts there: s6-rc-update's, which runs on the
/// instance's own values all the same). So new defaults that
/// s6-rc-update copied in change nothing, and an `env/` with other
/// defaults than the template's (an upgrade carried the old one over)
/// is made anew. Without an `instance-env/` (an instance made by
/// create, or synced before `instance-env/` was), own values make it
/// changed; none, and `env/` is compared with the defaults. No `env/`
/// is an empty one: it differs from any wanted one but the empty one (a
/// template without `env/`, an instance without variables), so that an
/// instance made before its set was managed is not restarted only to
/// get an empty directory.
pub fn differs(dir: &Loc, defaults: &Env, own: &Env) -> Result<bool, Error> {
    let dfd = open_instance(dir).map_err(|e| Error::sys("open", dir, e))?;
    // Some(Some(env)): a plain envdir; Some(None): something else, which
    // differs from every wanted one; None: not there.
    let read = |which: &str| -> Result<Option<Option<Env>>, Error> {
        let now = current_at(dfd.as_fd(), which).map_err(|e| Error::sys("read", &dir.join(which), e))?;
        Ok(match now {
            Ok(found) => found.map(Some),
            Err(None) => Some(None),
            Err(Some(big)) => {
                let msg = crate::diag::msg("not reading ").path(&dir.join(which).join(&big));
                crate::diag::warn(msg.text(format!(": over {VALUE_MAX} bytes, taken as changed")));
                Some(None)
            }
        })
    };
    let env_now = |wanted: &[&Env]| -> Result<bool, Error> {
        Ok(match read(ENV)? {
            Some(Some(now)) => !wanted.contains(&&now),
            Some(None) => true,
            None => !wanted.iter().any(|w| w.is_empty()),
        })
    };
    match read(OWN)? {
        Some(Some(now)) if now == *own => env_now(&[&overlay(defaults, own.clone()), defaults]),
        Some(_) => Ok(true),
        None if !own.is_empty() => {
            // Changed whatever env/ holds; read all the same, so that a
            // file there that is not read (over VALUE_MAX) is said.
            env_now(&[])?;
            Ok(true)
        }
        None => env_now(&[defaults]),
    }
}

/// The mark of an instance whose new `env/` its service has not been
/// told of yet: written (with the chain's token, crate::journal) before a swap that is to
/// be followed by a restart or a signal, removed once that is sent. One
/// left by a chain that is gone makes the next sync treat the instance
/// as changed.
pub const CHANGED: &str = ".s6i-changed";

/// Write the mark into the instance at `dir`, replacing one there.
pub fn mark_changed(dir: &Loc) -> Result<(), Error> {
    let failed = |e: Errno| Error::sys("write", &dir.join(CHANGED), e);
    begin_for(dir).map_err(failed)?;
    let dfd = open_instance(dir).map_err(failed)?;
    crate::copy::remove_at(dfd.as_fd(), OsStr::new(CHANGED)).map_err(failed)?;
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(&dfd, CHANGED, flags, Mode::from_bits_retain(0o644)).map_err(failed)?;
    crate::door::write_all(&fd, crate::random::token().as_bytes()).map_err(failed)
}

/// This command's log begun, before a token is written into the
/// instance at `dir` (a token without its log is a dead one's).
fn begin_for(dir: &Loc) -> Result<(), Errno> {
    crate::journal::begin(&instances_of(dir))
}

/// The `instances/` that holds the instance at `dir`.
fn instances_of(dir: &Loc) -> Loc {
    dir.parent().unwrap_or_else(|| dir.clone())
}

/// Remove the mark from the instance at `dir`.
pub fn clear_changed(dir: &Loc) -> Result<(), Error> {
    let failed = |e: Errno| Error::sys("remove", &dir.join(CHANGED), e);
    let dfd = open_instance(dir).map_err(failed)?;
    crate::copy::remove_at(dfd.as_fd(), OsStr::new(CHANGED)).map_err(failed)
}

/// Whether the instance at `dir` holds a mark left by a chain that is
/// gone (a regular file holding a token whose log is gone or unlocked,
/// or the previous version's pid; anything else there is no mark of
/// ours).
pub fn changed_by_dead_chain(dir: &Loc) -> bool {
    let Ok(dfd) = open_instance(dir) else {
        return false;
    };
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let Ok(fd) = openat(&dfd, CHANGED, flags, Mode::empty()) else {
        return false;
    };
    if fstat(&fd).map_or(true, |st| {
        SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG
    }) {
        return false;
    }
    let Ok(token) = crate::door::read_bounded(fd, 64) else {
        return false;
    };
    crate::journal::marked_by(token.trim_ascii()).is_some_and(|t| !crate::journal::alive(&instances_of(dir), t))
}

/// Remove what killed swaps left in the instance at `dir` (see
/// `sweep_at`).
pub fn sweep(dir: &Loc) {
    if let Ok(dfd) = open_instance(dir) {
        sweep_at(dfd.as_fd(), &instances_of(dir));
    }
}

/// Give the instance at `dir` the values `own` over `defaults` if they
/// differ (see `differs`); returns whether it did.
pub fn set(dir: &Loc, defaults: &Env, own: &Env) -> Result<bool, Error> {
    sweep(dir);
    if !differs(dir, defaults, own)? {
        return Ok(false);
    }
    install(dir, defaults, own)?;
    Ok(true)
}

/// Remove what killed swaps left in the instance open at `dfd`: hidden
/// `.s6i-env:PID:RANDOM` directories (and `.s6i-manifest:PID:RANDOM`
/// files) whose command is gone.
fn sweep_at(dfd: BorrowedFd, instances: &Loc) {
    let Ok(fd) = openat(dfd, ".", DIR_FLAGS, Mode::empty()) else {
        return;
    };
    let Ok(mut d) = Dir::from_fd(fd) else {
        return;
    };
    let left: Vec<OsString> = d
        .iter()
        .flatten()
        .map(|e| e.file_name().to_bytes().to_vec())
        .filter(|b| {
            (b.starts_with(b".s6i-env:") || b.starts_with(b".s6i-manifest:"))
                && crate::leftovers::leftover_gone(instances, b)
        })
        .map(OsString::from_vec)
        .collect();
    for name in left {
        let _ = crate::copy::remove_at(dfd, &name);
    }
}

/// Write `own` over `defaults` as the new `env/` of the instance at
/// `dir`, and `own` as its `instance-env/`, each swapped in whole (see
/// the top of this file).
pub fn install(dir: &Loc, defaults: &Env, own: &Env) -> Result<(), Error> {
    begin_for(dir).map_err(|e| Error::sys("write", &dir.join(ENV), e))?;
    let dfd = open_instance(dir).map_err(|e| Error::sys("open", dir, e))?;
    let owner = fstat(&dfd).map_err(|e| Error::sys("open", dir, e))?;
    install_at(
        dfd.as_fd(),
        &instances_of(dir),
        (owner.st_uid, owner.st_gid),
        dir,
        defaults,
        own,
    )
}

/// `install` into a copy that s6i-clone keeps private until s6i-link
/// (see copy::Kept), open at `copy`, under the `instances/` of this
/// process's log (the copy's top is still root's: `owner` is the owner
/// it will have). `shown` is where it will be.
pub fn install_kept(copy: &crate::copy::Private, shown: &Loc, defaults: &Env, own: &Env) -> Result<(), Error> {
    let instances = crate::journal::instances().unwrap_or_else(|| instances_of(shown));
    let inside = copy.inside().map_err(|e| Error::sys("open", shown, e))?;
    let dfd = open_instance(&inside).map_err(|e| Error::sys("open", shown, e))?;
    install_at(dfd.as_fd(), &instances, copy.owner(), shown, defaults, own)
}

fn install_at(
    dfd: BorrowedFd,
    instances: &Loc,
    owner: (u32, u32),
    dir: &Loc,
    defaults: &Env,
    own: &Env,
) -> Result<(), Error> {
    sweep_at(dfd, instances);
    // env/ first, instance-env/ last (see the top of this file).
    for (which, env) in [(ENV, &overlay(defaults, own.clone())), (OWN, own)] {
        put(dfd, owner, which, env).map_err(|(verb, e)| Error::sys(verb, &dir.join(which), e))?;
    }
    Ok(())
}

/// Swap `env` in whole as the directory `which` of the instance open at
/// `dfd`; on failure, what could not be done and why.
fn put(dfd: BorrowedFd, owner: (u32, u32), which: &str, env: &Env) -> Result<(), (&'static str, Errno)> {
    let tmp = hidden_name();
    let built = build(dfd, &tmp, env, owner);
    let failed = |e: Errno| {
        let _ = crate::copy::remove_at(dfd, &tmp);
        ("write", e)
    };
    built.map_err(failed)?;
    // The instance's env/ is its own now, not the template's: an upgrade
    // carries it over whole (see upgrade::keep_own_state).
    disown_in_manifest(dfd).map_err(failed)?;
    swap(dfd, &tmp, which).map_err(failed)?;
    // The old one is now under the hidden name.
    crate::copy::remove_at(dfd, &tmp).map_err(|e| ("remove the old", e))
}

/// For s6-instance-upgrade, once the new copy at `new` holds the new
/// template's files: when the old copy at `old` keeps its own values
/// apart (a plain `instance-env/`), the new copy's `env/` becomes the
/// new template's defaults (its `env/` as copied, or none) with those
/// values over them, and its `instance-env/` those values; true. False,
/// with nothing done, when the old copy has no such `instance-env/`:
/// its `env/` is the instance's whole, to carry over as it is.
pub fn renew_defaults(old: &Loc, new: &Loc) -> Result<bool, Errno> {
    let own = match read_dir(&old.join(OWN)) {
        Ok(Found::Env(own)) => own,
        Ok(_) | Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR) => return Ok(false),
        Err(e) => return Err(e),
    };
    let defaults = match read_dir(&new.join(ENV)) {
        Ok(Found::Env(defaults)) => defaults,
        Err(Errno::ENOENT) => Env::new(),
        Ok(_) | Err(Errno::ELOOP | Errno::ENOTDIR) => return Ok(false),
        Err(e) => return Err(e),
    };
    // The files get the old copy's owner: the new one is still root's
    // alone (see copy::Private), and gets that owner once swapped in.
    let st = old.stat()?;
    begin_for(new)?;
    let dfd = open_instance(new)?;
    sweep_at(dfd.as_fd(), &instances_of(new));
    for (which, env) in [(ENV, &overlay(&defaults, own.clone())), (OWN, &own)] {
        put(dfd.as_fd(), (st.st_uid, st.st_gid), which, env).map_err(|(_, e)| e)?;
    }
    Ok(true)
}

fn hidden_name() -> OsString {
    let mut name = format!(".s6i-{TAG}:{}:", crate::random::token()).into_bytes();
    name.extend_from_slice(&crate::random::suffix());
    OsString::from_vec(name)
}

/// Make the directory `name` in `dfd` holding `env`: root's alone while
/// written, then `owner`'s (the instance directory's), mode 0755, files
/// 0644.
fn build(dfd: BorrowedFd, name: &OsStr, env: &Env, owner: (u32, u32)) -> Result<(), Errno> {
    let (uid, gid) = (Some(Uid::from_raw(owner.0)), Some(Gid::from_raw(owner.1)));
    mkdirat(dfd, name, Mode::S_IRWXU)?;
    let top = openat(dfd, name, DIR_FLAGS, Mode::empty())?;
    for (key, contents) in env {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&top, key.as_os_str(), flags, Mode::from_bits_retain(0o600))?;
        crate::door::write_all(&fd, contents)?;
        let _ = fchown(&fd, uid, gid);
        fchmod(&fd, Mode::from_bits_retain(0o644))?;
    }
    let _ = fchown(&top, uid, gid);
    fchmod(&top, Mode::from_bits_retain(0o755))
}

/// renameat2 in one directory, through the raw system call.
fn renameat2(dfd: BorrowedFd, from: &OsStr, to: &OsStr, flags: libc::c_uint) -> Result<(), Errno> {
    let cfrom = CString::new(from.as_bytes()).map_err(|_| Errno::EINVAL)?;
    let cto = CString::new(to.as_bytes()).map_err(|_| Errno::EINVAL)?;
    let fd = dfd.as_raw_fd();
    // SAFETY: valid descriptor, NUL-terminated names.
    let r = unsafe { libc::syscall(libc::SYS_renameat2, fd, cfrom.as_ptr(), fd, cto.as_ptr(), flags) };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// Put the directory `tmp` in the place of `which`, and what was there
/// (if anything) at `tmp`.
fn swap(dfd: BorrowedFd, tmp: &OsStr, which: &str) -> Result<(), Errno> {
    let env = OsStr::new(which);
    loop {
        match renameat2(dfd, tmp, env, libc::RENAME_EXCHANGE) {
            Ok(()) => return Ok(()),
            // No env/ yet: a plain rename, unless one came meanwhile.
            Err(Errno::ENOENT) => match renameat2(dfd, tmp, env, libc::RENAME_NOREPLACE) {
                Ok(()) => return Ok(()),
                Err(Errno::EEXIST | Errno::ENOTEMPTY) => continue,
                Err(Errno::EINVAL | Errno::ENOSYS) => return fallback(dfd, tmp, which),
                Err(e) => return Err(e),
            },
            Err(Errno::EINVAL | Errno::ENOSYS) => return fallback(dfd, tmp, which),
            Err(e) => return Err(e),
        }
    }
}

/// Without RENAME_EXCHANGE (an old kernel, some file systems): the old
/// directory goes aside under a hidden name, the new one takes its
/// place, and the old one ends at `tmp`. For a moment there is none,
/// never half of one; a chain killed then leaves none, which the next
/// one writes.
fn fallback(dfd: BorrowedFd, tmp: &OsStr, which: &str) -> Result<(), Errno> {
    let env = OsStr::new(which);
    let aside = hidden_name();
    let had = match nix::fcntl::renameat(dfd, env, dfd, aside.as_os_str()) {
        Ok(()) => true,
        Err(Errno::ENOENT) => false,
        Err(e) => return Err(e),
    };
    if let Err(e) = nix::fcntl::renameat(dfd, tmp, dfd, env) {
        if had {
            let _ = nix::fcntl::renameat(dfd, aside.as_os_str(), dfd, env);
        }
        return Err(e);
    }
    if had {
        nix::fcntl::renameat(dfd, aside.as_os_str(), dfd, tmp)?;
    }
    Ok(())
}

/// Take `env/` out of the manifest of the instance at `dir`: it is the
/// instance's own (see `disown_in_manifest`).
pub fn disown(dir: &Loc) -> Result<(), Errno> {
    begin_for(dir)?;
    disown_in_manifest(open_instance(dir)?.as_fd())
}

/// Take `env` and what is below it out of the instance's manifest (see
/// `crate::manifest`), if it lists them: rewritten under a hidden name
/// and renamed over it.
fn disown_in_manifest(dfd: BorrowedFd) -> Result<(), Errno> {
    let name = OsStr::new(crate::manifest::NAME);
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = match openat(dfd, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ELOOP | Errno::ENXIO) => return Ok(()),
        Err(e) => return Err(e),
    };
    let st = fstat(&fd)?;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Ok(());
    }
    // A manifest too large to be ours is left alone (see manifest::MAX).
    let list = match crate::door::read_bounded(fd, crate::manifest::MAX) {
        Ok(list) => list,
        Err(crate::door::TOO_BIG) => return Ok(()),
        Err(e) => return Err(e),
    };
    let is_env = |p: &[u8]| {
        p == ENV.as_bytes() || p.starts_with(b"env/") || p == OWN.as_bytes() || p.starts_with(b"instance-env/")
    };
    if !list.split(|&b| b == 0).any(is_env) {
        return Ok(());
    }
    let mut kept = Vec::with_capacity(list.len());
    for p in list.split(|&b| b == 0).filter(|p| !p.is_empty() && !is_env(p)) {
        kept.extend_from_slice(p);
        kept.push(0);
    }
    let tmp = {
        let mut n = format!(".s6i-manifest:{}:", crate::random::token()).into_bytes();
        n.extend_from_slice(&crate::random::suffix());
        OsString::from_vec(n)
    };
    let wflags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let out = openat(dfd, tmp.as_os_str(), wflags, Mode::from_bits_retain(0o644))?;
    let written = crate::door::write_all(&out, &kept)
        .and_then(|()| {
            let _ = fchown(&out, Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)));
            fchmod(&out, Mode::from_bits_retain(st.st_mode & 0o7777))
        })
        .and_then(|()| nix::fcntl::renameat(dfd, tmp.as_os_str(), dfd, name));
    if written.is_err() {
        let _ = nix::unistd::unlinkat(dfd, tmp.as_os_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars() {
        assert_eq!(parse_var(b"A=b c").unwrap(), (OsString::from("A"), b"b c\n".to_vec()));
        assert_eq!(parse_var(b"A=").unwrap().1, b"\n");
        assert_eq!(parse_var(b"A=x=y").unwrap().1, b"x=y\n");
        for bad in [&b"A"[..], b"=x", b"a/b=x", b"..=x", b"A=x\0y"] {
            assert!(parse_var(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn renew_defaults_puts_the_new_template_under_the_own_values() {
        let t = tempfile::tempdir().unwrap();
        let (old, new) = (t.path().join("old"), t.path().join("new"));
        for d in [old.join("env"), old.join("instance-env"), new.join("env")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(old.join("env/PORT"), b"8001\n").unwrap();
        std::fs::write(old.join("env/HOST"), b"old\n").unwrap();
        std::fs::write(old.join("instance-env/PORT"), b"8001\n").unwrap();
        std::fs::write(new.join("env/PORT"), b"9000\n").unwrap();
        std::fs::write(new.join("env/HOST"), b"new\n").unwrap();
        assert!(renew_defaults(&Loc::at(&old), &Loc::at(&new)).unwrap());
        assert_eq!(std::fs::read(new.join("env/PORT")).unwrap(), b"8001\n");
        assert_eq!(std::fs::read(new.join("env/HOST")).unwrap(), b"new\n");
        assert_eq!(std::fs::read(new.join("instance-env/PORT")).unwrap(), b"8001\n");
        // Without instance-env/, nothing is done: env/ goes over whole.
        std::fs::remove_dir_all(old.join("instance-env")).unwrap();
        let before = std::fs::read(new.join("env/HOST")).unwrap();
        assert!(!renew_defaults(&Loc::at(&old), &Loc::at(&new)).unwrap());
        assert_eq!(std::fs::read(new.join("env/HOST")).unwrap(), before);
    }

    #[test]
    fn swaps_in_whole_and_sweeps_dead_leftovers() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        std::fs::write(dir.join(crate::manifest::NAME), b"env\0env/A\0run\0").unwrap();
        std::fs::create_dir(dir.join("env")).unwrap();
        std::fs::write(dir.join("env/A"), b"1\n").unwrap();
        std::fs::create_dir(dir.join(".s6i-env:999999999:abcdef")).unwrap();
        let env: Env = [(OsString::from("B"), b"2\n".to_vec())].into_iter().collect();
        let at = Loc::at(dir);
        let defaults: Env = [(OsString::from("C"), b"3\n".to_vec())].into_iter().collect();
        assert!(set(&at, &defaults, &env).unwrap());
        assert!(!set(&at, &defaults, &env).unwrap());
        assert_eq!(std::fs::read(dir.join("env/B")).unwrap(), b"2\n");
        assert_eq!(std::fs::read(dir.join("env/C")).unwrap(), b"3\n");
        assert!(!dir.join("env/A").exists());
        assert_eq!(std::fs::read(dir.join("instance-env/B")).unwrap(), b"2\n");
        assert!(!dir.join("instance-env/C").exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!((mode(&dir.join("env")), mode(&dir.join("env/B"))), (0o755, 0o644));
        assert_eq!(mode(&dir.join("instance-env")), 0o755);
        // New defaults copied over env/ (as s6-rc-update does): the
        // instance's own values are still the wanted ones.
        std::fs::remove_dir_all(dir.join("env")).unwrap();
        std::fs::create_dir(dir.join("env")).unwrap();
        std::fs::write(dir.join("env/B"), b"9\n").unwrap();
        let new_defaults: Env = [(OsString::from("B"), b"9\n".to_vec())].into_iter().collect();
        assert!(!differs(&at, &new_defaults, &env).unwrap());
        let other: Env = [(OsString::from("B"), b"5\n".to_vec())].into_iter().collect();
        assert!(differs(&at, &new_defaults, &other).unwrap());
        // Old defaults beside the own values (an upgrade carried env/
        // over): made anew.
        std::fs::write(dir.join("env/C"), b"3\n").unwrap();
        std::fs::write(dir.join("env/B"), b"2\n").unwrap();
        assert!(differs(&at, &new_defaults, &env).unwrap());
        assert_eq!(std::fs::read(dir.join(crate::manifest::NAME)).unwrap(), b"run\0");
        let hidden: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().as_bytes().starts_with(b".s6i-env"))
            .collect();
        assert!(hidden.is_empty());
    }
}
