//! The door to the filesystem: the one module that reaches files by
//! path. Everything else asks it for descriptors and works on those.
//!
//! A place is a `Loc`: a directory opened once (the instanced service
//! the caller named, a template, a directory a command made and holds
//! open) and a relative path below it. The top is followed as the caller
//! gave it: it is the caller's own word. Nothing below it is: every
//! entry is reached with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS),
//! or, where the kernel lacks openat2, a component at a time with
//! O_NOFOLLOW. A link anywhere on the way is ELOOP, `..` is EXDEV.
//!
//! Opens are typed, because root works among files of other users (an
//! instance's, with the maker's `-u`): a directory; a regular file, read
//! up to a stated bound without blocking (`read`); a lock file; a FIFO
//! opened for writing without blocking; our own `instance/NAME` link,
//! read and never followed. A FIFO, socket or device where a file of
//! ours should be is `NOT_REGULAR`, a file over its bound `TOO_BIG`:
//! nothing is read, written or waited on through it.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};

/// What is found where a regular file or a lock of ours should be: a
/// FIFO, a socket, a device.
pub const NOT_REGULAR: Errno = Errno::EINVAL;
/// A file larger than what may be read of it.
pub const TOO_BIG: Errno = Errno::EFBIG;

/// The bound of the small files of ours read below a service: `down`,
/// marks, manifests, a run script.
pub const SMALL: usize = 64 * 1024;

/// A directory opened once, and the path it was opened by, for messages.
struct Top {
    path: PathBuf,
    fd: OnceLock<Result<OwnedFd, Errno>>,
}

impl Top {
    fn fd(&self) -> Result<BorrowedFd<'_>, Errno> {
        let fd = self.fd.get_or_init(|| {
            nix::fcntl::open(
                &self.path,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
        });
        match fd {
            Ok(fd) => Ok(fd.as_fd()),
            Err(e) => Err(*e),
        }
    }
}

/// A place below a directory opened once (see the top of this file).
#[derive(Clone)]
pub struct Loc {
    top: Arc<Top>,
    rel: PathBuf,
    shown: PathBuf,
}

impl std::fmt::Debug for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shown.fmt(f)
    }
}

/// A place reads as its path in messages (`Error::sys("open", &loc, e)`).
/// It is not a Path (no Deref, no AsRef): nothing can reach it by path.
impl crate::diag::Shown for Loc {
    fn shown(&self) -> &Path {
        &self.shown
    }
}

impl PartialEq for Loc {
    fn eq(&self, other: &Loc) -> bool {
        Arc::ptr_eq(&self.top, &other.top) && self.rel == other.rel
    }
}

/// The kernel said once that it has no openat2: walk from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

const DIR: OFlag = OFlag::O_RDONLY.union(OFlag::O_DIRECTORY);
const SEARCH: OFlag = OFlag::O_PATH.union(OFlag::O_DIRECTORY);

/// The type bits of a stat.
pub fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

impl Loc {
    /// The directory at `path`, the caller's own: opened at first use,
    /// then kept.
    pub fn at(path: &Path) -> Loc {
        let top = Top {
            path: path.to_path_buf(),
            fd: OnceLock::new(),
        };
        Loc {
            top: Arc::new(top),
            rel: PathBuf::new(),
            shown: path.to_path_buf(),
        }
    }

    /// The entry at `path`, the caller's own: its directory is followed
    /// as given, its last component is not.
    pub fn of(path: &Path) -> Loc {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        match path.file_name() {
            Some(name) => Loc::at(parent).join(name),
            None => Loc::at(path),
        }
    }

    /// The directory open at `fd`, shown as `path`: what is reached
    /// from here is reached through it, whatever `path` is now.
    pub fn on(fd: OwnedFd, path: &Path) -> Loc {
        let top = Top {
            path: path.to_path_buf(),
            fd: OnceLock::from(Ok(fd)),
        };
        Loc {
            top: Arc::new(top),
            rel: PathBuf::new(),
            shown: path.to_path_buf(),
        }
    }

    /// The entry `name` (or a relative path) below this place.
    pub fn join(&self, name: impl AsRef<Path>) -> Loc {
        Loc {
            top: self.top.clone(),
            rel: self.rel.join(name.as_ref()),
            shown: self.shown.join(name.as_ref()),
        }
    }

    /// The same place, said as `shown` in messages: an instance reached
    /// at `instances/NAME` is said as `instance/NAME`, where s6 says it.
    pub fn shown_as(&self, shown: &Path) -> Loc {
        Loc {
            top: self.top.clone(),
            rel: self.rel.clone(),
            shown: shown.to_path_buf(),
        }
    }

    /// The place as a path, for messages (and for programs we run).
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// The last component, if this is not the top.
    pub fn name(&self) -> Option<&OsStr> {
        self.rel.file_name()
    }

    /// The place that holds this one, if this is not the top.
    pub fn parent(&self) -> Option<Loc> {
        let rel = self.rel.parent()?.to_path_buf();
        let shown = self.shown.parent()?.to_path_buf();
        Some(Loc {
            top: self.top.clone(),
            rel,
            shown,
        })
    }

    /// `name` beside this place.
    pub fn sibling(&self, name: impl AsRef<Path>) -> Option<Loc> {
        Some(self.parent()?.join(name))
    }

    /// Open this place with `flags` (O_CLOEXEC and O_NOFOLLOW are added).
    pub fn open(&self, flags: OFlag) -> Result<OwnedFd, Errno> {
        self.open_mode(flags, Mode::empty())
    }

    fn open_mode(&self, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
        let top = self.top.fd()?;
        let flags = flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        if self.rel.as_os_str().is_empty() {
            return openat(top, ".", flags & !OFlag::O_NOFOLLOW, mode);
        }
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            use nix::fcntl::{OpenHow, ResolveFlag};
            let how = OpenHow::new()
                .flags(flags)
                .mode(mode)
                .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
            // EAGAIN: a rename elsewhere below the top while we looked;
            // the kernel asks to try again.
            for _ in 0..16 {
                match nix::fcntl::openat2(top, &self.rel, how) {
                    Err(Errno::EAGAIN) => continue,
                    // A link as the last component, with O_NOFOLLOW and
                    // O_DIRECTORY: said ELOOP, as for one on the way.
                    Err(Errno::ENOTDIR) if flags.contains(OFlag::O_DIRECTORY) && self.is_link() => {
                        return Err(Errno::ELOOP)
                    }
                    Err(Errno::ENOSYS) => {
                        NO_OPENAT2.store(true, Ordering::Relaxed);
                        break;
                    }
                    r => return r,
                }
            }
            if !NO_OPENAT2.load(Ordering::Relaxed) {
                return Err(Errno::EAGAIN);
            }
        }
        self.walk(top, flags, mode)
    }

    /// openat2's job a component at a time, never through a link.
    fn walk(&self, top: BorrowedFd, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
        let mut parts = Vec::new();
        for c in self.rel.components() {
            match c {
                Component::Normal(p) => parts.push(p),
                Component::CurDir => {}
                _ => return Err(Errno::EXDEV),
            }
        }
        let last = parts.pop().ok_or(Errno::EINVAL)?;
        // O_DIRECTORY on a link says ENOTDIR: said ELOOP, as openat2 does.
        let open = |at: BorrowedFd, p: &OsStr, flags: OFlag| {
            openat(at, p, flags, mode).map_err(|e| match e {
                Errno::ENOTDIR
                    if fstatat(at, p, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| kind(&st) == SFlag::S_IFLNK) =>
                {
                    Errno::ELOOP
                }
                e => e,
            })
        };
        let mut dir: Option<OwnedFd> = None;
        for p in parts {
            let at = dir.as_ref().map_or(top, |d| d.as_fd());
            dir = Some(open(at, p, SEARCH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)?);
        }
        let at = dir.as_ref().map_or(top, |d| d.as_fd());
        open(at, last, flags)
    }

    /// The directory here, open for reading.
    pub fn open_dir(&self) -> Result<OwnedFd, Errno> {
        self.open(DIR)
    }

    /// The directory that holds this place, open for the *at calls, and
    /// this place's name in it.
    pub fn parent_fd(&self) -> Result<(OwnedFd, &OsStr), Errno> {
        let name = self.name().ok_or(Errno::EINVAL)?;
        let parent = self.parent().ok_or(Errno::EINVAL)?;
        Ok((parent.open(SEARCH)?, name))
    }

    /// What is here, not following a link.
    pub fn stat(&self) -> Result<FileStat, Errno> {
        match self.name() {
            None => fstat(self.top.fd()?),
            Some(_) => {
                let (dir, name) = self.parent_fd()?;
                fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
            }
        }
    }

    /// Whether the file here (not following a link) is the one of `id`,
    /// its device and inode: a name checked to still be what a record
    /// says it was.
    pub fn has_id(&self, id: (u64, u64)) -> bool {
        self.stat().is_ok_and(|st| (st.st_dev, st.st_ino) == id)
    }

    /// Whether anything is here (a dangling link included).
    pub fn present(&self) -> bool {
        self.stat().is_ok()
    }

    /// Whether a symbolic link is here.
    pub fn is_link(&self) -> bool {
        self.stat().is_ok_and(|st| kind(&st) == SFlag::S_IFLNK)
    }

    /// Whether a directory (not a link to one) is here.
    pub fn is_real_dir(&self) -> bool {
        self.stat().is_ok_and(|st| kind(&st) == SFlag::S_IFDIR)
    }

    /// The regular file here, open for reading without blocking.
    pub fn open_file(&self) -> Result<(OwnedFd, FileStat), Errno> {
        let fd = self.open(OFlag::O_RDONLY | OFlag::O_NONBLOCK)?;
        let st = fstat(&fd)?;
        match kind(&st) {
            SFlag::S_IFREG => Ok((fd, st)),
            SFlag::S_IFDIR => Err(Errno::EISDIR),
            _ => Err(NOT_REGULAR),
        }
    }

    /// The regular file here, whole, if it holds at most `bound` bytes
    /// (else TOO_BIG, and nothing read). A sparse file of any size costs
    /// no more than its bound.
    pub fn read(&self, bound: usize) -> Result<Vec<u8>, Errno> {
        let (fd, st) = self.open_file()?;
        if st.st_size as u64 > bound as u64 {
            return Err(TOO_BIG);
        }
        read_bounded(fd, bound)
    }

    /// A lock file of s6's, open to ask about its lock: a regular file,
    /// opened without blocking or following.
    pub fn open_lock(&self) -> Result<OwnedFd, Errno> {
        self.open_file().map(|(fd, _)| fd)
    }

    /// The FIFO here, open for writing without blocking: None when
    /// nobody reads it (ENXIO). Anything but a FIFO is NOT_REGULAR.
    pub fn open_fifo_writer(&self) -> Result<Option<OwnedFd>, Errno> {
        let fd = match self.open(OFlag::O_WRONLY | OFlag::O_NONBLOCK) {
            Ok(fd) => fd,
            Err(Errno::ENXIO) => return Ok(None),
            Err(e) => return Err(e),
        };
        match kind(&fstat(&fd)?) {
            SFlag::S_IFIFO => Ok(Some(fd)),
            _ => Err(NOT_REGULAR),
        }
    }

    /// What the link here says, read, never followed.
    pub fn readlink(&self) -> Result<OsString, Errno> {
        let (dir, name) = self.parent_fd()?;
        nix::fcntl::readlinkat(&dir, name)
    }

    /// The names in the directory here, but `.` and `..`.
    pub fn entries(&self) -> Result<Vec<OsString>, Errno> {
        entries_of(self.open_dir()?)
    }

    /// Make a directory here with `mode`, whatever the umask.
    pub fn mkdir(&self, mode: u32) -> Result<(), Errno> {
        let (dir, name) = self.parent_fd()?;
        without_umask(|| nix::sys::stat::mkdirat(&dir, name, Mode::from_bits_retain(mode)))
    }

    /// Make a symlink here that says `target`.
    pub fn symlink(&self, target: &Path) -> Result<(), Errno> {
        let (dir, name) = self.parent_fd()?;
        nix::unistd::symlinkat(target, &dir, name)
    }

    /// Write `data` into the regular file here, made with `mode` if
    /// missing, emptied first if there: never through a link (ELOOP),
    /// never into a FIFO or device (NOT_REGULAR; a FIFO without a reader
    /// says ENXIO), and without blocking.
    pub fn write_over(&self, data: &[u8], mode: u32) -> Result<(), Errno> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_NONBLOCK;
        let fd = without_umask(|| self.open_mode(flags, Mode::from_bits_retain(mode)))?;
        if kind(&fstat(&fd)?) != SFlag::S_IFREG {
            return Err(NOT_REGULAR);
        }
        nix::unistd::ftruncate(&fd, 0)?;
        write_all(&fd, data)
    }

    /// Make a new regular file here (never through a link, never over
    /// anything) with `mode`, open for writing.
    pub fn create(&self, mode: u32) -> Result<OwnedFd, Errno> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
        without_umask(|| self.open_mode(flags, Mode::from_bits_retain(mode)))
    }

    /// Write `data` into a new file here (see `create`).
    pub fn write_new(&self, data: &[u8], mode: u32) -> Result<(), Errno> {
        write_all(&self.create(mode)?, data)
    }

    /// Remove the file or link here (not a directory). Missing is fine.
    pub fn unlink(&self) -> Result<(), Errno> {
        let (dir, name) = self.parent_fd()?;
        match nix::unistd::unlinkat(&dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Err(Errno::ENOENT) => Ok(()),
            r => r,
        }
    }

    /// Remove the empty directory here. Missing is fine.
    pub fn rmdir(&self) -> Result<(), Errno> {
        let (dir, name) = self.parent_fd()?;
        match nix::unistd::unlinkat(&dir, name, nix::unistd::UnlinkatFlags::RemoveDir) {
            Err(Errno::ENOENT) => Ok(()),
            r => r,
        }
    }

    /// Remove whatever is here, a directory with all it holds, read by
    /// descriptor, never through a link. Missing is fine.
    pub fn remove_tree(&self) -> Result<(), Errno> {
        let (dir, name) = self.parent_fd()?;
        remove_at(dir.as_fd(), name)
    }

    /// renameat2 of this place to `to`, below the same top or not.
    pub fn rename_flags(&self, to: &Loc, flags: libc::c_uint) -> Result<(), Errno> {
        let (fdir, fname) = self.parent_fd()?;
        let (tdir, tname) = to.parent_fd()?;
        renameat2(fdir.as_fd(), fname, tdir.as_fd(), tname, flags)
    }

    /// An inotify watch on this place, reached through its directory's
    /// descriptor (`/proc/self/fd/N/NAME`), so that no link on the way
    /// is followed; the last component is followed only without
    /// IN_DONT_FOLLOW. Without /proc, the path itself.
    pub fn inotify_watch(
        &self,
        inotify: &nix::sys::inotify::Inotify,
        flags: nix::sys::inotify::AddWatchFlags,
    ) -> Result<nix::sys::inotify::WatchDescriptor, Errno> {
        use std::os::fd::AsRawFd;
        let (dir, name) = match self.name() {
            Some(_) => self.parent_fd()?,
            None => (self.open(SEARCH)?, OsStr::new(".")),
        };
        let via = Path::new("/proc/self/fd").join(dir.as_raw_fd().to_string());
        match inotify.add_watch(&via.join(name), flags) {
            Err(Errno::ENOENT) if !Path::new("/proc/self/fd").exists() => inotify.add_watch(self.path(), flags),
            r => r,
        }
    }

    /// Rename this place to `to`, replacing what is there.
    pub fn rename(&self, to: &Loc) -> Result<(), Errno> {
        self.rename_flags(to, 0)
    }

    /// Whether the directory here is `outer` or lies below it: told by
    /// device and inode, walking up from here through `..` a descriptor
    /// at a time (never by comparing paths, which links, bind mounts and
    /// `..` in them make say nothing), up to the root (the directory
    /// whose `..` is itself). One descriptor is open at a time, so no
    /// depth is too deep.
    pub fn is_within(&self, outer: &Loc) -> Result<bool, Errno> {
        let outer = id_of(outer.open(SEARCH)?.as_fd())?;
        let mut at = self.open(SEARCH)?;
        let mut id = id_of(at.as_fd())?;
        loop {
            if id == outer {
                return Ok(true);
            }
            let up = openat(&at, "..", SEARCH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())?;
            let up_id = id_of(up.as_fd())?;
            if up_id == id {
                return Ok(false);
            }
            (at, id) = (up, up_id);
        }
    }
}

/// What the file the caller named at `path` (its own: followed as
/// given, of any type, a FIFO or a terminal included) holds, up to
/// `bound` bytes (TOO_BIG past that). For a set file, `/etc/passwd`.
pub fn read_given(path: &Path, bound: usize) -> Result<Vec<u8>, Errno> {
    read_bounded(
        nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())?,
        bound,
    )
}

/// The device and inode of what `fd` is open on: which file it is.
pub fn id_of(fd: BorrowedFd) -> Result<(u64, u64), Errno> {
    let st = fstat(fd)?;
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// The directory that holds the directory open at `fd`, opened through
/// its `..` (for reading), and checked by device and inode to be the
/// one `expected`: a directory moved elsewhere meanwhile is EAGAIN, not
/// a walk on in the wrong place. How a walk down a tree of any depth
/// goes back up without keeping every level open.
pub fn reopen_parent(fd: BorrowedFd, expected: (u64, u64)) -> Result<OwnedFd, Errno> {
    let up = openat(fd, "..", DIR | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())?;
    match id_of(up.as_fd())? == expected {
        true => Ok(up),
        false => Err(Errno::EAGAIN),
    }
}

/// How many levels of a tree a walk down it keeps open: those above
/// are closed, and opened again through `..` on the way back up (see
/// `reopen_parent`). Holding every level would take a descriptor (two,
/// for a copy) per level, and a tree a few hundred levels deep would
/// then exhaust RLIMIT_NOFILE (1024 by default); raising the limit only
/// moves the wall. Keeping the last few open, rather than only the
/// current one, means that a tree of ordinary depth is walked exactly
/// as before, with no `..` looked up at all.
pub const OPEN_LEVELS: usize = 32;

/// Run `f` with the umask cleared, so that modes are as asked. The
/// umask is the whole process's: our programs have one thread, and a
/// program with more must not make files through the door while another
/// thread spawns one.
fn without_umask<T>(f: impl FnOnce() -> T) -> T {
    let old = nix::sys::stat::umask(Mode::empty());
    let r = f();
    nix::sys::stat::umask(old);
    r
}

/// Read what `fd` holds, up to `bound` bytes (TOO_BIG past that).
pub fn read_bounded(fd: OwnedFd, bound: usize) -> Result<Vec<u8>, Errno> {
    let mut data = Vec::new();
    let mut f = std::fs::File::from(fd).take(bound as u64 + 1);
    f.read_to_end(&mut data).map_err(|e| crate::diag::errno_of(&e))?;
    if data.len() > bound {
        return Err(TOO_BIG);
    }
    Ok(data)
}

/// Copy all that `from` holds to `to` (a regular file each), where the
/// kernel can, without reading it in.
pub fn copy_data(from: OwnedFd, to: &OwnedFd) -> Result<(), Errno> {
    let mut input = std::fs::File::from(from);
    let mut output = std::fs::File::from(to.try_clone().map_err(|e| crate::diag::errno_of(&e))?);
    std::io::copy(&mut input, &mut output)
        .map(drop)
        .map_err(|e| crate::diag::errno_of(&e))
}

/// Write all of `data` to `fd`.
pub fn write_all(fd: &OwnedFd, data: &[u8]) -> Result<(), Errno> {
    let mut done = 0;
    while done < data.len() {
        match nix::unistd::write(fd, &data[done..]) {
            Ok(n) => done += n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The names in the directory open at `fd`, but `.` and `..`.
pub fn entries_of(fd: OwnedFd) -> Result<Vec<OsString>, Errno> {
    let mut dir = nix::dir::Dir::from_fd(fd)?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let b = entry?.file_name().to_bytes().to_vec();
        if b != b"." && b != b".." {
            names.push(OsString::from_vec(b));
        }
    }
    Ok(names)
}

/// Remove the entry `name` of the directory `dir`, whatever it is: a
/// directory with all it holds, read by descriptor, never through a
/// link, with a stack of directories rather than recursion, so that no
/// depth can overflow ours, and with only the last `OPEN_LEVELS` of
/// them open, so that no depth exhausts our descriptors. A missing
/// entry is fine. A supervisor still writing its status into the tree
/// (one a delete with -X did not wait for) can fill a directory between
/// our look and our rmdir: that directory is read again, a bounded
/// number of times.
pub fn remove_at(dir: BorrowedFd, name: &OsStr) -> Result<(), Errno> {
    use nix::unistd::{unlinkat, UnlinkatFlags};
    // Linux says EISDIR for a directory; POSIX allows EPERM.
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR | Errno::EPERM) => {}
        Err(e) => return Err(e),
    }
    let open_sub = |at: BorrowedFd, n: &OsStr| openat(at, n, DIR | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty());
    let first = match open_sub(dir, name) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| crate::diag::errno_of(&e));
    // Each level: the directory (open, or closed above the last
    // OPEN_LEVELS), which one it is, its name in the one above, and the
    // names still to remove in it.
    struct Level {
        fd: Option<OwnedFd>,
        id: (u64, u64),
        name: OsString,
        names: Vec<OsString>,
    }
    let mut stack: Vec<Level> = Vec::new();
    stack.push(Level {
        id: id_of(first.as_fd())?,
        names: entries_of(dup(&first)?)?,
        fd: Some(first),
        name: name.to_os_string(),
    });
    let mut refills = 64;
    while let Some(level) = stack.last_mut() {
        let fd = level.fd.as_ref().expect("the current level is open");
        if let Some(n) = level.names.pop() {
            match unlinkat(fd.as_fd(), n.as_os_str(), UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => continue,
                Err(Errno::EISDIR | Errno::EPERM) => {}
                Err(e) => return Err(e),
            }
            let sub = match open_sub(fd.as_fd(), &n) {
                Ok(sub) => sub,
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            stack.push(Level {
                id: id_of(sub.as_fd())?,
                names: entries_of(dup(&sub)?)?,
                fd: Some(sub),
                name: n,
            });
            if stack.len() > OPEN_LEVELS {
                let k = stack.len() - OPEN_LEVELS - 1;
                stack[k].fd = None;
            }
            continue;
        }
        let done = stack.pop().expect("a level");
        let fd = done.fd.expect("the current level is open");
        if let Some(above) = stack.last_mut() {
            if above.fd.is_none() {
                above.fd = Some(reopen_parent(fd.as_fd(), above.id)?);
            }
        }
        let above = stack.last().map_or(dir, |l| l.fd.as_ref().expect("reopened").as_fd());
        match unlinkat(above, done.name.as_os_str(), UnlinkatFlags::RemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(Errno::ENOTEMPTY) if refills > 0 => {
                refills -= 1;
                stack.push(Level {
                    names: entries_of(dup(&fd)?)?,
                    fd: Some(fd),
                    ..done
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// renameat2(2) through the raw system call, which works with any libc
/// (nix has it for glibc only).
pub fn renameat2(
    fdir: BorrowedFd,
    from: &OsStr,
    tdir: BorrowedFd,
    to: &OsStr,
    flags: libc::c_uint,
) -> Result<(), Errno> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    let cfrom = CString::new(from.as_bytes()).map_err(|_| Errno::EINVAL)?;
    let cto = CString::new(to.as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: both strings are valid NUL-terminated names and both
    // descriptors are open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            fdir.as_raw_fd(),
            cfrom.as_ptr(),
            tdir.as_raw_fd(),
            cto.as_ptr(),
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_below_the_top_is_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("top");
        std::fs::create_dir_all(top.join("a/b")).unwrap();
        std::fs::write(tmp.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("../secret", top.join("link")).unwrap();
        std::os::unix::fs::symlink(".", top.join("a/self")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), top.join("out")).unwrap();
        nix::unistd::mkfifo(&top.join("fifo"), Mode::from_bits_retain(0o600)).unwrap();
        let loc = Loc::at(&top);
        assert_eq!(loc.join("link").read(100), Err(Errno::ELOOP));
        assert_eq!(loc.join("out/secret").read(100).err(), Some(Errno::ELOOP));
        assert_eq!(loc.join("a/self/b").open_dir().err(), Some(Errno::ELOOP));
        assert_eq!(loc.join("../secret").read(100).err(), Some(Errno::EXDEV));
        assert_eq!(loc.join("fifo").read(100).err(), Some(NOT_REGULAR));
        assert_eq!(loc.join("fifo").open_fifo_writer().unwrap().map(|_| ()), None);
        assert_eq!(loc.join("link").readlink().unwrap(), OsString::from("../secret"));
        assert!(loc.join("a/b").is_real_dir() && !loc.join("out").is_real_dir());
        // The walk says the same.
        NO_OPENAT2.store(true, Ordering::Relaxed);
        assert_eq!(loc.join("out/secret").read(100).err(), Some(Errno::ELOOP));
        assert_eq!(loc.join("a/self/b").open_dir().err(), Some(Errno::ELOOP));
        assert!(loc.join("a/b").open_dir().is_ok());
        NO_OPENAT2.store(false, Ordering::Relaxed);
    }

    #[test]
    fn reads_are_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(tmp.path().join("big")).unwrap();
        f.set_len(1 << 31).unwrap();
        std::fs::write(tmp.path().join("small"), "abc").unwrap();
        let loc = Loc::at(tmp.path());
        assert_eq!(loc.join("big").read(SMALL), Err(TOO_BIG));
        assert_eq!(loc.join("small").read(3).unwrap(), b"abc");
        assert_eq!(loc.join("small").read(2), Err(TOO_BIG));
    }

    #[test]
    fn a_deep_tree_goes_without_recursion() {
        let tmp = tempfile::tempdir().unwrap();
        let loc = Loc::at(tmp.path());
        let mut at = loc.join("deep");
        for _ in 0..3000 {
            at.mkdir(0o700).unwrap();
            at.join("f").write_new(b"x", 0o600).unwrap();
            // A fresh top at each level: a path has a length limit.
            let fd = at.open_dir().unwrap();
            at = Loc::on(fd, at.path()).join("d");
        }
        loc.join("deep").remove_tree().unwrap();
        assert!(!loc.join("deep").present());
    }
}
