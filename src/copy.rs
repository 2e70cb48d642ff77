//! Whole trees: copying a template the way s6 does, and removing a tree
//! so that it disappears at once. Every instance, every upgrade's new
//! copy and every maker's template go through here, so that "what does
//! a copy keep, and what does it never follow" has one answer.
//!
//! The copy keeps regular files, directories, symlinks (as links), FIFOs,
//! device nodes and sockets, with their modes, and their owners where we
//! are allowed to set them. Unlike s6's copy, an entry that cannot be
//! read or made fails the whole copy: a template that cannot be read
//! whole gives no instance. Like s6's (skalibs' hiercopy), an owner or a
//! mode that cannot be set is not an error: not being root, or a
//! template owned by a user that a rootless container does not map
//! (EINVAL), must not prevent the copy.

use std::ffi::{CStr, OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fchmodat, fstat, fstatat, mkdirat, FchmodatFlags, FileStat, Mode, SFlag};
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

use crate::diag::errno_of;
use crate::door::Loc;

/// How a directory of a tree is opened: never through a link.
const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Why a copy failed: the system's error, and the entry it met it at,
/// relative to the tree copied (empty: the top itself).
#[derive(Debug, PartialEq, Eq)]
pub struct CopyError {
    pub errno: Errno,
    pub at: PathBuf,
}

impl From<Errno> for CopyError {
    fn from(errno: Errno) -> CopyError {
        CopyError {
            errno,
            at: PathBuf::new(),
        }
    }
}

impl CopyError {
    /// The same error, met inside the directory `dir`.
    fn within(self, dir: &OsStr) -> CopyError {
        let at = if self.at.as_os_str().is_empty() {
            PathBuf::from(dir)
        } else {
            Path::new(dir).join(self.at)
        };
        CopyError { errno: self.errno, at }
    }

    /// `unable to copy file hierarchy from SRC to DST: reason`, as s6
    /// says it, with the entry that stopped the copy when it is not the
    /// top: `...: SRC/ENTRY: reason`.
    pub fn message(
        &self,
        src: &(impl crate::diag::Shown + ?Sized),
        dst: &(impl crate::diag::Shown + ?Sized),
    ) -> Vec<u8> {
        let msg = crate::diag::msg("unable to copy file hierarchy from ").path(src);
        let msg = msg.text(" to ").path(dst).text(": ");
        let msg = match self.at.as_os_str().is_empty() {
            true => msg,
            false => msg.path(&src.shown().join(&self.at)).text(": "),
        };
        msg.reason(self.errno).into()
    }
}

/// A copy that only root may enter yet: its top directory is mode 0700,
/// until it is published with the owner and mode of the tree it copies.
/// Whatever is written into it before then (an instance's own files, a
/// pending mark, a `down` file) goes through the descriptor of its top
/// (`inside`), never through its name: the name is in `instances/`,
/// whose owner may rename it away and put anything in its place. Dropped
/// unpublished, the copy stays private (the caller then discards it).
#[must_use = "a copy stays private until it is published"]
pub struct Private {
    top: OwnedFd,
    at: Loc,
    uid: u32,
    gid: u32,
    mode: u32,
}

impl Private {
    /// The copy, reached through the descriptor of its top.
    pub fn inside(&self) -> Result<Loc, Errno> {
        let fd = self.top.try_clone().map_err(|e| errno_of(&e))?;
        Ok(Loc::on(fd, self.at.path()))
    }

    /// The owner (uid, gid) the copy's top gets when it is published.
    pub fn owner(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }

    /// Where the copy is being made (its hidden name).
    pub fn at(&self) -> &Loc {
        &self.at
    }

    /// Whether the copy's name still leads to its top directory: EXDEV
    /// when something else was put there.
    pub fn still_named(&self) -> Result<(), Errno> {
        let top = fstat(&self.top)?;
        match self.at.stat() {
            Ok(st) if (st.st_dev, st.st_ino) == (top.st_dev, top.st_ino) => Ok(()),
            Ok(_) | Err(Errno::ENOENT | Errno::ENOTDIR) => Err(SWAPPED),
            Err(e) => Err(e),
        }
    }

    /// Give the top directory its final owner, then its mode (a chown
    /// clears set-id bits), on the descriptor made for it: the copy is
    /// then what it will be. Failures are ignored, as for the entries.
    fn finish(&self) {
        let _ = fchown(&self.top, Some(Uid::from_raw(self.uid)), Some(Gid::from_raw(self.gid)));
        let _ = fchmod(&self.top, Mode::from_bits_retain(self.mode));
    }

    /// Publish the copy as it stands, under its own name (a tree that is
    /// nobody else's: the maker's, a template's).
    pub fn publish(self) {
        self.finish();
    }

    /// Publish the copy at `dst`, which must be free: once its name is
    /// checked to still be the copy (SWAPPED otherwise, and nothing
    /// moved, nothing removed). A copy that cannot be renamed into place
    /// (EEXIST: someone else made `dst` first) is removed.
    pub fn publish_to(self, dst: &Loc) -> Result<(), Errno> {
        self.still_named()?;
        self.finish();
        crate::rename::rename_noreplace(&self.at, dst).inspect_err(|_| {
            let _ = self.at.remove_tree();
        })
    }

    /// Swap the copy with the tree at `dst`, at once (see
    /// rename::exchange), once its name is checked to still be the copy.
    pub fn exchange_with(self, dst: &Loc) -> Result<(), Errno> {
        self.still_named()?;
        self.finish();
        crate::rename::exchange(&self.at, dst)
    }

    /// Remove the copy, if its name still leads to it; a name swapped
    /// meanwhile is left to whoever swapped it.
    pub fn discard(self) {
        if self.still_named().is_ok() {
            let _ = self.at.remove_tree();
        }
    }
}

/// A private copy kept from one step to the next (s6i-clone to s6i-link)
/// under its hidden name, as its create record says it
/// (crate::journal): `HIDDEN/DEV/INO/UID/GID/MODE`. No descriptor lives
/// across an exec, so the copy is found again by its name and known by
/// its inode: one put in its place by whoever may write `instances/` is
/// not taken for it.
#[derive(Debug, PartialEq, Eq)]
pub struct Kept {
    pub hidden: OsString,
    pub id: (u64, u64),
    owner: (u32, u32, u32),
}

impl Kept {
    /// What the record of `copy` says.
    pub fn record(copy: &Private) -> Result<Vec<u8>, Errno> {
        let st = fstat(&copy.top)?;
        let mut r = copy.at.name().ok_or(Errno::EINVAL)?.as_encoded_bytes().to_vec();
        let rest = format!("/{}/{}/{}/{}/{:o}", st.st_dev, st.st_ino, copy.uid, copy.gid, copy.mode);
        r.extend_from_slice(rest.as_bytes());
        Ok(r)
    }

    /// Read a record; None when it says no kept copy.
    pub fn parse(record: &[u8]) -> Option<Kept> {
        let mut f = record.split(|&b| b == b'/');
        let hidden = f.next().filter(|h| !h.is_empty())?;
        let mut num = |radix| {
            let n = std::str::from_utf8(f.next()?).ok()?;
            u64::from_str_radix(n, radix).ok()
        };
        let id = (num(10)?, num(10)?);
        let (uid, gid, mode) = (num(10)?, num(10)?, num(8)?);
        Some(Kept {
            hidden: OsString::from_vec(hidden.to_vec()),
            id,
            owner: (
                u32::try_from(uid).ok()?,
                u32::try_from(gid).ok()?,
                u32::try_from(mode).ok()?,
            ),
        })
    }

    /// Whether `at` is the copy (not following a link).
    pub fn is_at(&self, at: &Loc) -> bool {
        at.has_id(self.id)
    }

    /// The copy, still private under its hidden name in `instances`:
    /// ENOENT when that name is gone (published, or removed), SWAPPED
    /// when it leads to anything else.
    pub fn reopen(&self, instances: &Loc) -> Result<Private, Errno> {
        let at = instances.join(&self.hidden);
        let top = match at.open_dir() {
            Err(Errno::ELOOP | Errno::ENOTDIR) => return Err(SWAPPED),
            r => r?,
        };
        let st = fstat(&top)?;
        if (st.st_dev, st.st_ino) != self.id {
            return Err(SWAPPED);
        }
        let (uid, gid, mode) = self.owner;
        Ok(Private {
            top,
            at,
            uid,
            gid,
            mode,
        })
    }
}

/// A hidden copy's name, found leading elsewhere than the copy.
pub const SWAPPED: Errno = Errno::EXDEV;

/// Copy the tree at `src` to `dst`, which must not exist. `src` itself
/// may be a symlink to the tree (each instance gets a copy of what it
/// points to); symlinks inside the tree are copied as symlinks, and no
/// link below `src` is ever followed. The copy stays private (see
/// `Private`) until the caller publishes it; a copy that fails is
/// removed.
pub fn copy_tree(src: &Loc, dst: &Loc) -> Result<Private, CopyError> {
    copy_top(src.open_dir()?, dst, &[])
}

/// Copy the tree open at `from` to `dst`, leaving out the top entries
/// named in `skip`. The top is made 0700, then opened and checked to be
/// the empty directory just made, ours: its name may be another user's
/// to swap.
fn copy_top(from: OwnedFd, dst: &Loc, skip: &[&[u8]]) -> Result<Private, CopyError> {
    let st = fstat(&from)?;
    crate::leftovers::hidden(dst);
    dst.mkdir(0o700)?;
    let made = dst.open_dir().map_err(CopyError::from).and_then(|to| {
        let mine = fstat(&to)?;
        if mine.st_uid != nix::unistd::geteuid().as_raw() || mine.st_mode & 0o7777 != 0o700 || mine.st_nlink != 2 {
            return Err(SWAPPED.into());
        }
        copy_contents(from, to.as_fd(), skip)?;
        Ok(to)
    });
    match made {
        Ok(top) => Ok(Private {
            top,
            at: dst.clone(),
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
        }),
        Err(e) => {
            if e.errno != SWAPPED {
                let _ = dst.remove_tree();
            }
            Err(e)
        }
    }
}

/// Copy one entry of a tree to `dst`, which must not exist: a symlink as
/// a link, a directory with all it holds. Neither is reached through a
/// link: `src` and `dst` are places of the door. `dst` is in a tree of
/// ours (a private copy).
pub fn copy_entry(src: &Loc, dst: &Loc) -> Result<(), Errno> {
    let (sdir, sname) = src.parent_fd()?;
    let (ddir, dname) = dst.parent_fd()?;
    copy_at(sdir.as_fd(), sname, ddir.as_fd(), dname).map_err(|e| e.errno)
}

/// The entries of the directory `dir`, reached without following a
/// link: each name, and whether it is a directory (not a link to one).
pub fn entries_below(dir: &Loc) -> Result<Vec<(OsString, bool)>, Errno> {
    let mut dir = Dir::from_fd(dir.open_dir()?)?;
    let names = names(&mut dir, &[])?;
    names
        .into_iter()
        .map(|name| {
            let st = fstatat(dir.as_fd(), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
            Ok((name, kind(&st) == SFlag::S_IFDIR))
        })
        .collect()
}

/// The names in `dir`, but `.`, `..` and those in `skip`.
fn names(dir: &mut Dir, skip: &[&[u8]]) -> Result<Vec<OsString>, Errno> {
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry?;
        let name: &CStr = entry.file_name();
        let b = name.to_bytes();
        if b == b"." || b == b".." || skip.contains(&b) {
            continue;
        }
        names.push(OsString::from_vec(b.to_vec()));
    }
    Ok(names)
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// Copy every entry of the directory `from` into the directory `to`:
/// a tree of any depth, with a stack rather than recursion (a template
/// thousands of levels deep must not overflow ours), and with only the
/// last `door::OPEN_LEVELS` levels open, both sides, so that no depth
/// exhausts our descriptors. A level closed is opened again through its
/// child's `..` on the way back up, and checked by device and inode to
/// be the directory it was (see `door::reopen_parent`): a source
/// directory moved meanwhile fails the copy (EAGAIN) rather than let it
/// go on elsewhere. Each directory gets its owner and mode once it is
/// full, after the one above is open again: a mode without search
/// permission then keeps nothing from being reached.
fn copy_contents(from: OwnedFd, to: BorrowedFd, skip: &[&[u8]]) -> Result<(), CopyError> {
    let mut top = Dir::from_fd(from)?;
    let mut top_todo = names(&mut top, skip)?;
    top_todo.reverse();
    let mut levels: Vec<Level> = Vec::new();
    // What failed, named from the top of the copy.
    let named = |e: CopyError, levels: &[Level]| levels.iter().rev().fold(e, |e, l| e.within(&l.name));
    loop {
        let next = match levels.last_mut() {
            None => top_todo.pop(),
            Some(l) => l.todo.pop(),
        };
        let Some(name) = next else {
            let Some(done) = levels.pop() else {
                return Ok(());
            };
            let (sfd, dfd) = done.fds.as_ref().expect("the current level is open");
            if let Some(above) = levels.last_mut() {
                if above.fds.is_none() {
                    let reopened = crate::door::reopen_parent(sfd.as_fd(), above.ids.0)
                        .and_then(|s| Ok((Dir::from_fd(s)?, crate::door::reopen_parent(dfd.as_fd(), above.ids.1)?)));
                    match reopened {
                        Ok(fds) => above.fds = Some(fds),
                        Err(e) => {
                            let e = CopyError::from(e).within(&done.name);
                            return Err(named(e, &levels));
                        }
                    }
                }
            }
            set_owner_mode(dfd.as_fd(), &done.st);
            continue;
        };
        let (sdir, ddir) = match levels.last() {
            None => (top.as_fd(), to),
            Some(l) => {
                let (s, d) = l.fds.as_ref().expect("the current level is open");
                (s.as_fd(), d.as_fd())
            }
        };
        match copy_or_enter(sdir, &name, ddir, &name) {
            Ok(None) => {}
            Ok(Some(entered)) => {
                let Entered { from, to, st } = entered;
                let ids = (
                    crate::door::id_of(from.as_fd()).map_err(|e| named(CopyError::from(e).within(&name), &levels))?,
                    crate::door::id_of(to.as_fd()).map_err(|e| named(CopyError::from(e).within(&name), &levels))?,
                );
                let mut dir = Dir::from_fd(from).map_err(|e| named(CopyError::from(e).within(&name), &levels))?;
                let mut todo = names(&mut dir, &[]).map_err(|e| named(CopyError::from(e).within(&name), &levels))?;
                todo.reverse();
                levels.push(Level {
                    fds: Some((dir, to)),
                    ids,
                    st,
                    name,
                    todo,
                });
                if levels.len() > crate::door::OPEN_LEVELS {
                    let k = levels.len() - crate::door::OPEN_LEVELS - 1;
                    levels[k].fds = None;
                }
            }
            Err(e) => return Err(named(e.within(&name), &levels)),
        }
    }
}

/// A directory of a tree being copied (see `copy_contents`).
struct Level {
    /// The source directory and its copy, open; None above the last
    /// `door::OPEN_LEVELS`, until they are opened again.
    fds: Option<(Dir, OwnedFd)>,
    /// Which directories they are (device, inode): source, copy.
    ids: ((u64, u64), (u64, u64)),
    /// The source as it was opened: what the copy gets once full.
    st: FileStat,
    /// Its name in the level above.
    name: OsString,
    /// The entries still to copy, the next one last.
    todo: Vec<OsString>,
}

/// A directory just made as the copy of another, both open, to be
/// filled: the source's stat gives the copy its owner and mode once full.
struct Entered {
    from: OwnedFd,
    to: OwnedFd,
    st: FileStat,
}

/// Give what `fd` is the owner, then the mode, of `st`; failures are
/// ignored (see the top of this file).
fn set_owner_mode(fd: BorrowedFd, st: &FileStat) {
    let _ = fchown(fd, Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)));
    let _ = fchmod(fd, Mode::from_bits_retain(st.st_mode & 0o7777));
}

/// Copy the entry `sname` of the directory `sdir` to `dname` in `ddir`.
/// Each source is opened without following a link and checked to be what
/// it was looked at as; each entry made gets its owner and mode on the
/// descriptor it was written through (by name, in `ddir`, for links and
/// special files, which cannot be opened for that: `ddir` is in a private
/// copy, where nobody else can swap them). A directory is copied with
/// all it holds, at any depth (see `copy_contents`).
fn copy_at(sdir: BorrowedFd, sname: &OsStr, ddir: BorrowedFd, dname: &OsStr) -> Result<(), CopyError> {
    if let Some(Entered { from, to, st }) = copy_or_enter(sdir, sname, ddir, dname)? {
        copy_contents(from, to.as_fd(), &[])?;
        set_owner_mode(to.as_fd(), &st);
    }
    Ok(())
}

/// copy_at's one step: an entry that is not a directory is copied
/// (None); a directory is opened, its copy made (private, 0700) and
/// opened, for the caller to fill.
fn copy_or_enter(
    sdir: BorrowedFd,
    sname: &OsStr,
    ddir: BorrowedFd,
    dname: &OsStr,
) -> Result<Option<Entered>, CopyError> {
    let st = fstatat(sdir, sname, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let private = Mode::S_IRUSR | Mode::S_IWUSR;
    let owner = |st: &FileStat| (Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)));
    match kind(&st) {
        SFlag::S_IFDIR => {
            let from = openat(sdir, sname, DIR_FLAGS, Mode::empty())?;
            let st = fstat(&from)?;
            mkdirat(ddir, dname, Mode::S_IRWXU)?;
            let to = openat(ddir, dname, DIR_FLAGS, Mode::empty())?;
            return Ok(Some(Entered { from, to, st }));
        }
        SFlag::S_IFREG => {
            let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
            let from = openat(sdir, sname, flags, Mode::empty())?;
            let st = fstat(&from)?;
            if kind(&st) != SFlag::S_IFREG {
                // Replaced by something else since it was looked at.
                return Err(Errno::EAGAIN.into());
            }
            let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let to = openat(ddir, dname, flags, private)?;
            crate::door::copy_data(from, &to)?;
            set_owner_mode(to.as_fd(), &st);
        }
        SFlag::S_IFLNK => {
            let target = readlinkat(sdir, sname)?;
            symlinkat(target.as_os_str(), ddir, dname)?;
            let (uid, gid) = owner(&st);
            let _ = fchownat(ddir, dname, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW);
        }
        k @ (SFlag::S_IFIFO | SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFSOCK) => {
            nix::sys::stat::mknodat(ddir, dname, k, private, st.st_rdev)?;
            let (uid, gid) = owner(&st);
            let _ = fchownat(ddir, dname, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW);
            let mode = Mode::from_bits_retain(st.st_mode & 0o7777);
            let _ = fchmodat(ddir, dname, mode, FchmodatFlags::FollowSymlink);
        }
        _ => return Err(Errno::ENOTSUP.into()),
    }
    Ok(None)
}

/// Remove the entry `name` of the directory `dir`, whatever it is (see
/// door::remove_at).
pub fn remove_at(dir: BorrowedFd, name: &OsStr) -> Result<(), Errno> {
    crate::door::remove_at(dir, name)
}

/// Remove the tree at `at`: first rename it aside under a hidden name,
/// so that it vanishes at once, then delete it. A missing tree is fine.
pub fn remove_tree(at: &Loc) -> Result<(), Errno> {
    match crate::rename::move_aside(at)? {
        Some(aside) => aside.remove_tree(),
        None => Ok(()),
    }
}

/// Copy the template to `dst`, privately (see `Private`). The copy holds
/// the lock that `lock` takes (shared, on the root-only `.s6i-work`, see
/// crate::work) until it is done; s6i-template swaps a new template in
/// whole, then takes that lock exclusively before it removes the old
/// one: a copy under way when the swap happens is a whole copy of the
/// template that was in place when it began. Nobody but us can open
/// that lock, so nobody else can hold a copy up. A copy that opened the
/// template just before a swap (and waited for the lock while the old
/// one went), or one that finds its entries vanish where no lock is to
/// be had (no `instances/` yet, a swap by other means: ENOENT), is made
/// again from the new template, when the `template` name no longer
/// leads to the directory copied: up to five times in all (then it
/// fails, EAGAIN, rather than give what may be incomplete). An entry
/// `.s6i-pending` at the top of the template, of any type, is left out:
/// that name is the mark of an instance in the hands of a chain (see
/// pending.rs).
pub fn copy_template<L>(template: &Loc, dst: &Loc, lock: impl Fn() -> Option<L>) -> Result<Private, CopyError> {
    let which = |t: &Loc| t.stat().ok().map(|st| (st.st_dev, st.st_ino));
    let skip = [crate::layout::PENDING.as_bytes()];
    for attempt in 1..=ATTEMPTS {
        let held = lock();
        let from = template.open_dir()?;
        let st = fstat(&from)?;
        let copied = Some((st.st_dev, st.st_ino));
        let r = copy_top(from, dst, &skip);
        let locked = held.is_some();
        drop(held);
        if (locked && r.is_ok()) || which(template) == copied {
            return r;
        }
        // Swapped meanwhile, with no lock to keep the old one whole: what
        // was made goes (a failed copy has removed its own), and the new
        // template is copied.
        match r {
            Ok(made) => made.discard(),
            Err(e) if attempt == ATTEMPTS => return Err(e),
            Err(_) => {}
        }
    }
    Err(Errno::EAGAIN.into())
}

/// How many times copy_template tries.
const ATTEMPTS: u32 = 5;

#[cfg(test)]
mod copy_error_tests {
    use super::*;

    #[test]
    fn the_entry_that_stopped_a_copy_is_named() {
        let e = CopyError::from(Errno::EACCES)
            .within(OsStr::new("f"))
            .within(OsStr::new("sub"));
        assert_eq!(e.at, PathBuf::from("sub/f"));
        let msg = e.message(Path::new("/t"), Path::new("/d"));
        assert_eq!(
            String::from_utf8_lossy(&msg),
            "unable to copy file hierarchy from /t to /d: /t/sub/f: Permission denied"
        );
        let top = CopyError::from(Errno::ENOENT).message(Path::new("/t"), Path::new("/d"));
        assert_eq!(
            String::from_utf8_lossy(&top),
            "unable to copy file hierarchy from /t to /d: No such file or directory"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn mode(p: &std::path::Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_copy_is_private_until_published_and_follows_no_link() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst, outside) = (
            tmp.path().join("src"),
            tmp.path().join("dst"),
            tmp.path().join("outside"),
        );
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), "x").unwrap();
        std::fs::write(src.join("sub/file"), "data").unwrap();
        std::fs::set_permissions(src.join("sub/file"), PermissionsExt::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink(&outside, src.join("link")).unwrap();
        std::fs::create_dir(src.join(".s6i-pending")).unwrap();
        nix::unistd::mkfifo(&src.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        std::fs::set_permissions(src.join("fifo"), PermissionsExt::from_mode(0o620)).unwrap();
        std::fs::set_permissions(&src, PermissionsExt::from_mode(0o751)).unwrap();

        let top = crate::door::Loc::at(tmp.path());
        let made = super::copy_template(&top.join("src"), &top.join("dst"), || None::<()>).unwrap();
        assert_eq!(mode(&dst), 0o700);
        made.publish();
        assert_eq!(mode(&dst), 0o751);
        assert_eq!(std::fs::read(dst.join("sub/file")).unwrap(), b"data");
        assert_eq!(mode(&dst.join("sub/file")), 0o640);
        assert_eq!(std::fs::read_link(dst.join("link")).unwrap(), outside);
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(dst.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        assert_eq!(mode(&dst.join("fifo")), 0o620);
        assert!(std::fs::symlink_metadata(dst.join(".s6i-pending")).is_err());

        // An entry below a link is not reached through it.
        let e = super::copy_entry(&top.join("src/link/secret"), &top.join("dst/stolen"));
        assert!(
            matches!(e, Err(nix::errno::Errno::ELOOP | nix::errno::Errno::ENOTDIR)),
            "{e:?}"
        );
        assert!(!dst.join("stolen").exists());
    }

    #[test]
    fn a_tree_deeper_than_the_levels_kept_open_is_copied_with_its_modes() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        let levels = 3 * crate::door::OPEN_LEVELS + 5;
        let mut at = src.clone();
        for i in 0..levels {
            std::fs::create_dir_all(at.join("d")).unwrap();
            std::fs::write(at.join("f"), i.to_string()).unwrap();
            at = at.join("d");
        }
        std::fs::write(at.join("deepest"), "bottom").unwrap();
        // A directory its owner may not search, deep down: its mode is
        // given once the walk is back above it.
        let shut = src.join("d/".repeat(2 * crate::door::OPEN_LEVELS));
        std::fs::set_permissions(&shut, PermissionsExt::from_mode(0o600)).unwrap();
        super::copy_tree(&crate::door::Loc::at(&src), &crate::door::Loc::of(&dst))
            .unwrap()
            .publish();
        std::fs::set_permissions(&shut, PermissionsExt::from_mode(0o755)).unwrap();
        let copied = dst.join("d/".repeat(2 * crate::door::OPEN_LEVELS));
        assert_eq!(mode(&copied), 0o600);
        std::fs::set_permissions(&copied, PermissionsExt::from_mode(0o755)).unwrap();
        let mut at = dst.clone();
        for i in 0..levels {
            assert_eq!(std::fs::read(at.join("f")).unwrap(), i.to_string().as_bytes());
            at = at.join("d");
        }
        assert_eq!(std::fs::read(at.join("deepest")).unwrap(), b"bottom");
    }

    #[test]
    fn remove_at_removes_a_tree_and_nothing_a_link_leads_to() {
        use std::os::fd::AsFd;
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("kept"), "x").unwrap();
        let gone = tmp.path().join("gone");
        std::fs::create_dir_all(gone.join("a/b")).unwrap();
        std::fs::write(gone.join("a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, gone.join("a/link")).unwrap();
        let dir = nix::fcntl::open(tmp.path(), nix::fcntl::OFlag::O_RDONLY, nix::sys::stat::Mode::empty()).unwrap();
        super::remove_at(dir.as_fd(), std::ffi::OsStr::new("gone")).unwrap();
        assert!(!gone.exists());
        assert!(outside.join("kept").exists());
        super::remove_at(dir.as_fd(), std::ffi::OsStr::new("gone")).unwrap();
    }
}
