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
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{open, openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fchmodat, fstat, fstatat, mkdirat, FchmodatFlags, FileStat, Mode, SFlag};
use nix::unistd::{fchown, fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use crate::diag::errno_of;

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
    pub fn message(&self, src: &Path, dst: &Path) -> Vec<u8> {
        let msg = crate::diag::msg("unable to copy file hierarchy from ").path(src);
        let msg = msg.text(" to ").path(dst).text(": ");
        let msg = match self.at.as_os_str().is_empty() {
            true => msg,
            false => msg.path(&src.join(&self.at)).text(": "),
        };
        msg.reason(self.errno).into()
    }
}

/// A copy that only root may enter yet: its top directory is mode 0700,
/// until `publish` gives it the owner and mode of the tree it copies.
/// Whatever is written into it before then (an instance's own files, a
/// pending mark, a `down` file) cannot be raced by another user, who
/// cannot reach it. Dropped unpublished, the top stays private (the
/// caller then removes the copy).
#[must_use = "a copy stays private until it is published"]
pub struct Private {
    top: OwnedFd,
    uid: u32,
    gid: u32,
    mode: u32,
}

impl Private {
    /// Give the top directory its final owner, then its mode (a chown
    /// clears set-id bits), on the descriptor made for it: the copy is
    /// then what it will be. Failures are ignored, as for the entries.
    pub fn publish(self) {
        let _ = fchown(&self.top, Some(Uid::from_raw(self.uid)), Some(Gid::from_raw(self.gid)));
        let _ = fchmod(&self.top, Mode::from_bits_retain(self.mode));
    }
}

/// Copy the tree at `src` to `dst`, which must not exist. `src` itself
/// may be a symlink to the tree (each instance gets a copy of what it
/// points to); symlinks inside the tree are copied as symlinks, and no
/// link below `src` is ever followed. The copy stays private (see
/// `Private`) until the caller publishes it; a copy that fails is
/// removed.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<Private, CopyError> {
    let from = open(
        src,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    copy_top(from, dst, &[])
}

/// Copy the tree open at `from` to `dst`, leaving out the top entries
/// named in `skip`.
fn copy_top(from: OwnedFd, dst: &Path, skip: &[&[u8]]) -> Result<Private, CopyError> {
    let st = fstat(&from)?;
    let (parent, name) = open_parent(dst)?;
    mkdirat(&parent, name, Mode::S_IRWXU)?;
    let made = openat(&parent, name, DIR_FLAGS, Mode::empty())
        .map_err(CopyError::from)
        .and_then(|to| {
            copy_contents(from, to.as_fd(), skip)?;
            Ok(to)
        });
    match made {
        Ok(top) => Ok(Private {
            top,
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
        }),
        Err(e) => {
            discard(dst);
            Err(e)
        }
    }
}

/// Copy one entry of a tree to `dst`, which must not exist: a symlink as
/// a link, a directory with all it holds. The entry is `rel` below the
/// directory `top`, and no link is followed below `top`: what `rel`
/// names is looked up a directory at a time, by descriptor. `dst` is in
/// a tree of ours (a private copy).
pub fn copy_entry(top: &Path, rel: &Path, dst: &Path) -> Result<(), Errno> {
    let (sdir, sname) = open_below(top, rel)?;
    let (ddir, dname) = open_parent(dst)?;
    copy_at(sdir.as_fd(), sname, ddir.as_fd(), dname).map_err(|e| e.errno)
}

/// The entries of the directory `rel` below `top`, reached without
/// following a link: each name, and whether it is a directory (not a
/// link to one).
pub fn entries_below(top: &Path, rel: &Path) -> Result<Vec<(OsString, bool)>, Errno> {
    let dir = if rel.as_os_str().is_empty() {
        open(top, DIR_FLAGS, Mode::empty())?
    } else {
        let (parent, name) = open_below(top, rel)?;
        openat(&parent, name, DIR_FLAGS, Mode::empty())?
    };
    let mut dir = Dir::from_fd(dir)?;
    let names = names(&mut dir, &[])?;
    names
        .into_iter()
        .map(|name| {
            let st = fstatat(dir.as_fd(), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
            Ok((name, kind(&st) == SFlag::S_IFDIR))
        })
        .collect()
}

/// The directory that holds `rel` below `top`, opened a component at a
/// time without following links, and the last component of `rel`.
fn open_below<'a>(top: &Path, rel: &'a Path) -> Result<(OwnedFd, &'a OsStr), Errno> {
    let mut dir = open(top, DIR_FLAGS, Mode::empty())?;
    let mut parts: Vec<&OsStr> = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(part) => parts.push(part),
            _ => return Err(Errno::EINVAL),
        }
    }
    let name = parts.pop().ok_or(Errno::EINVAL)?;
    for part in parts {
        dir = openat(&dir, part, DIR_FLAGS, Mode::empty())?;
    }
    Ok((dir, name))
}

/// The directory that holds `path` (followed as the caller gave it: it
/// is the caller's own), and the last component of `path`.
fn open_parent(path: &Path) -> Result<(OwnedFd, &OsStr), Errno> {
    let name = path.file_name().ok_or(Errno::EINVAL)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = open(
        parent,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Ok((dir, name))
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
            let (mut input, mut output) = (File::from(from), File::from(to));
            io::copy(&mut input, &mut output).map_err(|e| CopyError::from(errno_of(&e)))?;
            set_owner_mode(output.as_fd(), &st);
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

/// Remove the entry `name` of the directory `dir`, whatever it is: a
/// directory with all it holds, read by descriptor, never through a link.
/// A missing entry is fine.
pub fn remove_at(dir: BorrowedFd, name: &OsStr) -> Result<(), Errno> {
    // Linux says EISDIR for a directory; POSIX allows EPERM, which is
    // also a refusal: that one stands unless the entry is a directory.
    let unlinked = match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(e @ (Errno::EISDIR | Errno::EPERM)) => e,
        Err(e) => return Err(e),
    };
    let sub = match openat(dir, name, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::ENOTDIR | Errno::ELOOP) => return Err(unlinked),
        Err(e) => return Err(e),
    };
    let mut sub = Dir::from_fd(sub)?;
    for entry in names(&mut sub, &[])? {
        remove_at(sub.as_fd(), &entry)?;
    }
    match unlinkat(dir, name, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Remove the tree at `path`: first rename it aside under a hidden name,
/// so that it vanishes at once, then delete it. A missing tree is fine.
pub fn remove_tree(path: &Path) -> Result<(), Errno> {
    match crate::rename::move_aside(path)? {
        Some(aside) => remove_all(&aside),
        None => Ok(()),
    }
}

/// remove_dir_all, tried again at once when a directory turns out not
/// to be empty: a supervisor still running in the tree (one a delete
/// with -X does not wait for, on its way out) writes its status as we
/// empty it. Each failure is one such write come between our look and
/// our removal, and a supervisor makes only a few: a bounded number of
/// tries, with nothing to wait for in between (once the tree is gone,
/// its writes fail on their own).
pub fn remove_all(path: &Path) -> Result<(), Errno> {
    let mut tries = 64;
    loop {
        match fs::remove_dir_all(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) && tries > 0 => tries -= 1,
            Err(e) => return Err(errno_of(&e)),
        }
    }
}

/// Remove a tree in place (a temporary copy nobody else sees).
pub fn discard(path: &Path) {
    let _ = fs::remove_dir_all(path);
}

/// Copy the template to `dst`, privately (see `Private`). The copy reads
/// the directory it opened first, holding a shared flock(2) on it until
/// it is done; s6i-template swaps a new template in whole, then takes
/// the old one exclusively before it removes it: a copy under way when
/// the swap happens is a whole copy of the template that was in place
/// when it began. A copy that opened the template just before a swap
/// (and waited for the lock while the old one went), or one that finds
/// its entries vanish where no lock is to be had (a file system without
/// flock, a swap by other means: ENOENT), is made again from the new
/// template, when the `template` path no longer leads to the directory
/// copied: up to five times in all (then it fails, EAGAIN, rather than
/// give what may be incomplete). An entry `.s6i-pending` at the top of
/// the template, of any type, is left out: that name is the mark of an
/// instance in the hands of a chain (see pending.rs).
pub fn copy_template(template: &Path, dst: &Path) -> Result<Private, CopyError> {
    let which = |t: &Path| {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(t).ok().map(|md| (md.dev(), md.ino()))
    };
    let skip = [crate::layout::PENDING.as_bytes()];
    for attempt in 1..=ATTEMPTS {
        let from = open(
            template,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let st = fstat(&from)?;
        let copied = Some((st.st_dev, st.st_ino));
        let locked = crate::lock::shared_on(&from);
        if which(template) != copied {
            // Swapped before the lock was ours: that one may be going.
            continue;
        }
        let r = copy_top(from, dst, &skip);
        if (locked && r.is_ok()) || which(template) == copied {
            return r;
        }
        // Swapped meanwhile, with no lock to keep the old one whole: what
        // was made goes (a failed copy has removed its own), and the new
        // template is copied.
        match r {
            Ok(made) => {
                drop(made);
                discard(dst);
            }
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

        let made = super::copy_template(&src, &dst).unwrap();
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
        let e = super::copy_entry(&src, std::path::Path::new("link/secret"), &dst.join("stolen"));
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
        super::copy_tree(&src, &dst).unwrap().publish();
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
