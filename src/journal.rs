//! The intent log of this command: `SV/instances/.s6i-work/log:TOKEN`,
//! one per process that changes instances, and the lock that says
//! whether its writer lives.
//!
//! TOKEN is `PID.RANDOM`, made once per process. Whatever the command
//! leaves on disk while it works carries it: the hidden names
//! `.s6i-TAG:TOKEN:RANDOM`, the `.s6i-pending` and `.s6i-changed` marks
//! in instances. The log is made and flock(2)ed before the first of
//! them, and the lock is held until the process ends: the kernel drops
//! it at death, zombie or not. So a mark's writer is alive exactly when
//! the log its token names is there and locked (`alive`); never is a
//! pid asked whether it runs. A reused pid has another RANDOM.
//!
//! The log holds records, each written before the act it announces
//! (`open`) and closed after it (`close`): `KIND NAME EXTRA`, fields
//! ended by NUL (a name may hold any other byte). `+` opens, `-` closes
//! the record of the same kind and name. What is open when the writer
//! dies is what `recover` finishes or undoes. The chain's steps run in
//! one process (`chain`), so they share one log; before a real exec
//! into another program, a log with nothing open is ended, and one with
//! something open is handed on in `S6I_LOG` (its descriptor, token and
//! `instances/`), for a step of ours further down the chain to go on
//! with.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::Mutex;

use nix::errno::Errno;

use crate::door::Loc;

/// The environment variable that hands a log on across an exec.
pub const HANDED: &str = "S6I_LOG";

/// How a log is named in `.s6i-work/`.
pub const PREFIX: &str = "log:";

/// The most a log may hold (a sync of very many names restarting them).
pub const LOG_MAX: usize = 64 << 20;

pub use crate::random::token;

/// Whether `token` has the shape of one (`PID.RANDOM`): a mark of the
/// previous kind held a bare pid, and is a dead command's.
pub fn is_token(token: &[u8]) -> bool {
    let Some(dot) = token.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (pid, random) = (&token[..dot], &token[dot + 1..]);
    !pid.is_empty() && pid.iter().all(u8::is_ascii_digit) && pid[0] != b'0' && random.len() == 6
}

/// `b` if it is what a mark of ours holds: a token, or the bare pid of
/// one of the previous version's marks.
pub fn marked_by(b: &[u8]) -> Option<&[u8]> {
    let pid = b.split(|&c| c == b'.').next()?;
    let ok = !pid.is_empty() && pid[0] != b'0' && pid.iter().all(u8::is_ascii_digit);
    (ok && (pid.len() == b.len() || is_token(b))).then_some(b)
}

/// The log of this process, once begun.
struct Log {
    fd: OwnedFd,
    at: Loc,
    instances: Loc,
    /// The records open now: `KIND\0NAME`, and what each says besides.
    open: Vec<(Vec<u8>, Vec<u8>)>,
}

static LOG: Mutex<Option<Log>> = Mutex::new(None);

/// The tokens of the dead logs this process is recovering: they hold
/// our lock while we do, but their writers are dead.
static RECOVERING: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// The log, taken up first from `S6I_LOG` if an earlier step of this
/// process handed it on across an exec.
fn log() -> std::sync::MutexGuard<'static, Option<Log>> {
    static HANDED_ON: std::sync::Once = std::sync::Once::new();
    let mut guard = LOG.lock().unwrap_or_else(|e| e.into_inner());
    HANDED_ON.call_once(|| *guard = take_handed());
    guard
}

/// Begin this process's log in `instances/.s6i-work`, if it has none
/// yet: made, then locked, then checked to be still linked (a recovery
/// that found it unlocked in between took it away: made again). One
/// handed on by an earlier step is taken up instead (see `log`).
pub fn begin(instances: &Loc) -> Result<(), Errno> {
    let mut log = log();
    if log.is_some() {
        return Ok(());
    }
    let name = format!("{PREFIX}{}", token());
    for _ in 0..8 {
        let work = crate::work::dir(instances)?;
        let at = work.join(&name);
        let fd = match at.create(0o600) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        crate::lock::flock(&fd, libc::LOCK_EX)?;
        // Still linked: a recovery that found it before our lock removes
        // it (it held nothing), and it is made again.
        if nix::sys::stat::fstat(&fd)?.st_nlink > 0 {
            crate::work::occupy(true);
            *log = Some(Log {
                fd,
                at,
                instances: instances.clone(),
                open: Vec::new(),
            });
            return Ok(());
        }
    }
    Err(Errno::EAGAIN)
}

fn same_file(at: &Loc, fd: &OwnedFd) -> bool {
    match (at.stat(), nix::sys::stat::fstat(fd)) {
        (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
        _ => false,
    }
}

/// The log an earlier step handed on (`S6I_LOG=FD:TOKEN:INSTANCES`),
/// if it is this process's (its token ours) and still the file of its
/// name in that `instances/`. Anything else in the variable is dropped,
/// and its descriptor left alone: it is not known to be ours.
fn take_handed() -> Option<Log> {
    // The token first: it is taken from the variable too.
    let mine = token();
    let v = std::env::var_os(HANDED)?;
    std::env::remove_var(HANDED);
    let mut parts = v.as_bytes().splitn(3, |&b| b == b':');
    let (fd, tok, instances) = (parts.next()?, parts.next()?, parts.next()?);
    let fd: RawFd = std::str::from_utf8(fd).ok()?.parse().ok()?;
    if tok != mine.as_bytes() || fd < 0 {
        return None;
    }
    let instances = Loc::at(std::path::Path::new(std::ffi::OsStr::from_bytes(instances)));
    let at = crate::work::existing(&instances)
        .ok()??
        .join(format!("{PREFIX}{}", token()));
    // SAFETY: only borrowed for the fstat; a closed one fails it.
    let st = nix::sys::stat::fstat(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }).ok()?;
    let named = at.stat().ok()?;
    if (st.st_dev, st.st_ino) != (named.st_dev, named.st_ino) {
        return None;
    }
    // SAFETY: fd is open (fstat said so) and is the log of this process,
    // left to us by the step before the exec.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let _ = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
    let open = open_records(&at.read(LOG_MAX).unwrap_or_default());
    crate::work::occupy(true);
    Some(Log {
        fd,
        at,
        instances,
        open,
    })
}

/// One record.
fn record(op: u8, kind: &str, name: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut r = vec![op];
    r.extend_from_slice(kind.as_bytes());
    r.push(0);
    r.extend_from_slice(name);
    r.push(0);
    r.extend_from_slice(extra);
    r.push(0);
    r
}

fn key(kind: &[u8], name: &[u8]) -> Vec<u8> {
    let mut k = kind.to_vec();
    k.push(0);
    k.extend_from_slice(name);
    k
}

/// Say, before doing it, that this process is about to do KIND to NAME
/// (`extra`: what recovery needs besides). The log is begun if need be.
pub fn open(instances: &Loc, kind: &str, name: &[u8], extra: &[u8]) -> Result<(), Errno> {
    begin(instances)?;
    let mut log = log();
    let log = log.as_mut().ok_or(Errno::EINVAL)?;
    crate::door::write_all(&log.fd, &record(b'+', kind, name, extra))?;
    log.open.push((key(kind.as_bytes(), name), extra.to_vec()));
    Ok(())
}

/// Say that KIND on NAME is done (or undone): nothing for recovery.
/// Best effort: a record left open is only work for a recovery that
/// finds it already done.
pub fn close(kind: &str, name: &[u8]) {
    let mut log = log();
    let Some(log) = log.as_mut() else { return };
    let k = key(kind.as_bytes(), name);
    let Some(i) = log.open.iter().position(|(o, _)| *o == k) else {
        return;
    };
    if crate::door::write_all(&log.fd, &record(b'-', kind, name, b"")).is_ok() {
        log.open.swap_remove(i);
    }
}

/// The names this process has KIND open on, in the order opened.
pub fn open_names(kind: &str) -> Vec<OsString> {
    let mut prefix = kind.as_bytes().to_vec();
    prefix.push(0);
    log().as_ref().map_or_else(Vec::new, |l| {
        l.open
            .iter()
            .filter_map(|(k, _)| k.strip_prefix(prefix.as_slice()))
            .map(|n| OsString::from_vec(n.to_vec()))
            .collect()
    })
}

/// The `instances/` of this process's log, if it has begun one.
pub fn instances() -> Option<Loc> {
    log().as_ref().map(|l| l.instances.clone())
}

/// Whether this process has KIND on NAME open.
pub fn is_open(kind: &str, name: &[u8]) -> bool {
    extra(kind, name).is_some()
}

/// What the open record of KIND on NAME says besides, if this process
/// has one open (an earlier step's, perhaps, before an exec).
pub fn extra(kind: &str, name: &[u8]) -> Option<Vec<u8>> {
    let k = key(kind.as_bytes(), name);
    let log = log();
    let (_, extra) = log.as_ref()?.open.iter().find(|(o, _)| *o == k)?;
    Some(extra.clone())
}

/// The records open in a log's contents, in the order they were
/// opened: each `(KIND, NAME, EXTRA)`. A record cut short by a kill
/// counts as never written: the act it announced was not begun.
pub fn records(contents: &[u8]) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let mut open: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = Vec::new();
    let mut fields = contents.split(|&b| b == 0).peekable();
    // Each field ends with a NUL: the piece after the last one is what a
    // kill cut short (empty when nothing was), never a field.
    while let (Some(kind), Some(name), Some(extra)) = (fields.next(), fields.next(), fields.next()) {
        if fields.peek().is_none() {
            break;
        }
        let Some((&op, kind)) = kind.split_first() else { break };
        match op {
            b'+' => open.push((kind.to_vec(), name.to_vec(), extra.to_vec())),
            b'-' => {
                if let Some(i) = open.iter().rposition(|(k, n, _)| k == kind && n == name) {
                    open.remove(i);
                }
            }
            _ => break,
        }
    }
    open
}

fn open_records(contents: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    records(contents)
        .into_iter()
        .map(|(k, n, e)| (key(&k, &n), e))
        .collect()
}

/// The process is about to exit, not killed: its `create` records are
/// done with (the copies it kept private are gone, see
/// create::forget_all_kept; what it linked is whole), and the log goes
/// unless something else is still open (see `end`): a `delete` whose
/// tree is put aside but not removed yet (a wait that timed out, a
/// chain that ends after its unlink) stays, for the next command to
/// finish once this one is gone.
pub fn exit() {
    if let Some(l) = log().as_mut() {
        l.open.retain(|(k, _)| !k.starts_with(b"create\0"));
    }
    end();
}

/// End this process's log at the end of its work: removed when nothing
/// in it is open; else left, locked until the process is gone, for the
/// next command to recover.
pub fn end() {
    let mut guard = log();
    if guard.as_ref().is_some_and(|l| l.open.is_empty()) {
        let l = guard.take().expect("a log");
        let _ = l.at.unlink();
        drop(l.fd);
        crate::work::occupy(false);
        crate::work::tidy(&l.instances);
    }
}

/// Before a real exec of another program: a log with nothing open is
/// ended; one with work open is handed on, its descriptor kept open
/// across the exec and named in `S6I_LOG`, so that its lock lives on
/// with the work.
pub fn hand_on() {
    end();
    let guard = log();
    if let Some(l) = guard.as_ref() {
        let _ = nix::fcntl::fcntl(&l.fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()));
        let mut v = format!("{}:{}:", l.fd.as_raw_fd(), token()).into_bytes();
        v.extend_from_slice(l.instances.path().as_os_str().as_bytes());
        std::env::set_var(HANDED, OsString::from_vec(v));
    }
}

/// Whether the command whose token is `token` still runs: its log in
/// `instances/.s6i-work` is there and locked. This process's own token
/// is alive. A token of the old kind (a bare pid) is not: it was written
/// by the previous version, whose commands are gone. Where we may not
/// look (another user's `.s6i-work`), alive: its work is left alone.
pub fn alive(instances: &Loc, token: &[u8]) -> bool {
    if !is_token(token) {
        return false;
    }
    if token == self::token().as_bytes() {
        return true;
    }
    if RECOVERING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|t| t == token)
    {
        return false;
    }
    let work = match crate::work::existing(instances) {
        Ok(Some(work)) => work,
        Ok(None) => return false,
        Err(_) => return true,
    };
    let mut name = PREFIX.as_bytes().to_vec();
    name.extend_from_slice(token);
    locked(&work.join(OsString::from_vec(name)))
}

/// Whether the log at `at` is locked by a live process (a missing one
/// is not).
pub fn locked(at: &Loc) -> bool {
    let fd = match at.open_lock() {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return false,
        Err(_) => return true,
    };
    crate::lock::flock(&fd, libc::LOCK_SH | libc::LOCK_NB).is_err()
}

/// A dead command's log, taken (locked) for recovery: its open records.
/// None when it is alive, or being recovered by another command.
pub struct Dead {
    pub at: Loc,
    _lock: OwnedFd,
    token: Vec<u8>,
    pub records: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

/// Take the log at `at` if its writer is dead.
pub fn take_dead(at: &Loc) -> Option<Dead> {
    let fd = at.open_lock().ok()?;
    crate::lock::flock(&fd, libc::LOCK_EX | libc::LOCK_NB).ok()?;
    // Recovered and removed by another between our open and our lock.
    if !same_file(at, &fd) {
        return None;
    }
    let contents = at.read(LOG_MAX).unwrap_or_default();
    let token = at
        .name()
        .and_then(|n| n.as_bytes().strip_prefix(PREFIX.as_bytes()))
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    RECOVERING.lock().unwrap_or_else(|e| e.into_inner()).push(token.clone());
    Some(Dead {
        at: at.clone(),
        _lock: fd,
        token,
        records: records(&contents),
    })
}

impl Drop for Dead {
    /// Its token is dead only while we hold its log: a log taken in the
    /// moment between its writer's create and lock (it is then empty) is
    /// made again by that writer, under the same token, alive.
    fn drop(&mut self) {
        let mut recovering = RECOVERING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = recovering.iter().position(|t| *t == self.token) {
            recovering.swap_remove(i);
        }
    }
}

impl Dead {
    /// Done with it: removed when nothing is left, else rewritten with
    /// what is left (for the next command to try again), still unlocked
    /// once we let go.
    pub fn finish(self, left: &[(Vec<u8>, Vec<u8>, Vec<u8>)]) {
        if left.is_empty() {
            let _ = self.at.unlink();
            return;
        }
        let mut contents = Vec::new();
        for (k, n, e) in left {
            contents.extend(record(b'+', std::str::from_utf8(k).unwrap_or(""), n, e));
        }
        let _ = self.at.write_over(&contents, 0o600);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_open_and_close() {
        let mut log = Vec::new();
        log.extend(record(b'+', "hold", b"a", b"up"));
        log.extend(record(b'+', "hold", b"b c", b"once"));
        log.extend(record(b'-', "hold", b"a", b""));
        log.extend(record(b'+', "work", b"", b""));
        // Cut short by a kill: not written.
        log.extend_from_slice(b"+hold\0d\0");
        let open = records(&log);
        assert_eq!(
            open,
            vec![
                (b"hold".to_vec(), b"b c".to_vec(), b"once".to_vec()),
                (b"work".to_vec(), Vec::new(), Vec::new())
            ]
        );
    }

    #[test]
    fn tokens() {
        assert!(is_token(token().as_bytes()));
        assert!(is_token(b"12.AbC-_9"));
        for not in [&b"12"[..], b"12.abc", b".abcdef", b"0.abcdef", b"x1.abcdef"] {
            assert!(!is_token(not), "{not:?}");
        }
    }
}
