//! Whole trees: copying a template the way s6 does, and removing an
//! instance so that it disappears at once.
//!
//! The copy keeps regular files, directories, symlinks (as links), FIFOs,
//! device nodes and sockets, with their modes, and their owners where we
//! are allowed to set them. Unlike s6's copy, an entry that cannot be
//! read or made fails the whole copy: a template that cannot be read
//! whole gives no instance. Like s6's (skalibs' hiercopy), an owner or a
//! mode that cannot be set is not an error: not being root, or a
//! template owned by a user that a rootless container does not map
//! (EINVAL), must not prevent the copy.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{lchown, DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::{mknod, Mode, SFlag};

use crate::diag::errno_of;

/// Copy the tree at `src` to `dst`, which must not exist. `src` itself
/// may be a symlink to the tree (each instance gets a copy of what it
/// points to); symlinks inside the tree are copied as symlinks.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), Errno> {
    let md = fs::metadata(src).map_err(|e| errno_of(&e))?;
    copy_node(src, &md, dst).map_err(|e| errno_of(&e))
}

/// Copy one entry of a tree to `dst`, which must not exist: a symlink as
/// a link, a directory with all it holds.
pub fn copy_entry(src: &Path, dst: &Path) -> Result<(), Errno> {
    let md = fs::symlink_metadata(src).map_err(|e| errno_of(&e))?;
    copy_node(src, &md, dst).map_err(|e| errno_of(&e))
}

fn copy_node(src: &Path, md: &fs::Metadata, dst: &Path) -> io::Result<()> {
    let ft = md.file_type();
    let private = Mode::S_IRUSR | Mode::S_IWUSR;
    if ft.is_dir() {
        DirBuilder::new().mode(0o700).create(dst)?;
        for entry in fs::read_dir(src)? {
            let name = entry?.file_name();
            let from = src.join(&name);
            copy_node(&from, &fs::symlink_metadata(&from)?, &dst.join(&name))?;
        }
    } else if ft.is_file() {
        let mut input = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(src)?;
        let mut output = OpenOptions::new().write(true).create_new(true).mode(0o600).open(dst)?;
        io::copy(&mut input, &mut output)?;
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
    } else {
        let kind = if ft.is_fifo() {
            SFlag::S_IFIFO
        } else if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else if ft.is_socket() {
            SFlag::S_IFSOCK
        } else {
            return Err(io::Error::from_raw_os_error(libc::ENOTSUP));
        };
        mknod(dst, kind, private, md.rdev()).map_err(io::Error::from)?;
    }
    // Owner first: a chown clears the set-id bits that the chmod restores.
    let _ = lchown(dst, Some(md.uid()), Some(md.gid()));
    if !ft.is_symlink() {
        let _ = fs::set_permissions(dst, Permissions::from_mode(md.mode() & 0o7777));
    }
    Ok(())
}

/// A fresh hidden name beside `path`, for work in progress that readers
/// must not see: `.s6i-TAG:PID:RANDOM`.
pub fn hidden_sibling(path: &Path, tag: &str) -> PathBuf {
    let mut name = format!(".s6i-{tag}:{}:", std::process::id()).into_bytes();
    name.extend_from_slice(&crate::random::suffix());
    path.parent().unwrap_or(Path::new(".")).join(OsString::from_vec(name))
}

/// Remove the hidden work-in-progress trees left in `dir` by steps that
/// were killed: those whose process no longer exists. A live process's
/// work (or a recycled pid's) is left alone, and so is a tree where a
/// supervisor still runs (an old copy a killed upgrade left), whose
/// supervised directories are returned instead, for the caller to have
/// them stopped first.
pub fn sweep_leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut running = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return running;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if leftover_pid(name.as_encoded_bytes()).is_none() || leftover_alive(name.as_encoded_bytes()) {
            continue;
        }
        let path = entry.path();
        let supervised: Vec<PathBuf> = crate::supervise::with_logger(&path)
            .unwrap_or_default()
            .into_iter()
            .filter(|d| crate::supervise::is_running(d).unwrap_or(false))
            .collect();
        if supervised.is_empty() {
            let _ = fs::remove_dir_all(path);
        } else {
            running.extend(supervised);
        }
    }
    running
}

/// Whether the process that made the hidden tree of this name (a
/// `.s6i-TAG:PID:RANDOM` name) is still there.
pub fn leftover_alive(name: &[u8]) -> bool {
    leftover_pid(name).is_some_and(|pid| !process_gone(pid))
}

/// Whether no process has this pid any more (a recycled pid counts as
/// alive: its work is left alone).
pub fn process_gone(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) == Err(Errno::ESRCH)
}

/// The pid in a `.s6i-TAG:PID:RANDOM` name.
fn leftover_pid(name: &[u8]) -> Option<i32> {
    let rest = name.strip_prefix(b".s6i-")?;
    let mut parts = rest.split(|&b| b == b':');
    let (_tag, pid, random) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || random.len() != 6 {
        return None;
    }
    std::str::from_utf8(pid).ok()?.parse().ok().filter(|&p: &i32| p > 0)
}

/// Remove the tree at `path`: first rename it aside under a hidden name,
/// so that it vanishes at once, then delete it. A missing tree is fine.
pub fn remove_tree(path: &Path) -> Result<(), Errno> {
    match move_aside(path)? {
        Some(aside) => remove_all(&aside),
        None => Ok(()),
    }
}

/// Rename the tree at `path` to a hidden name beside it, for
/// `remove_all` to delete: the path is free at once. None if there was
/// nothing there.
pub fn move_aside(path: &Path) -> Result<Option<PathBuf>, Errno> {
    let aside = hidden_sibling(path, "remove");
    match fs::rename(path, &aside) {
        Ok(()) => Ok(Some(aside)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(errno_of(&e)),
    }
}

/// remove_dir_all, tried again when a supervisor that has not exited yet
/// writes a new status file into the tree as we empty it. On a loaded
/// machine that supervisor can take its time: we give it five seconds.
pub fn remove_all(path: &Path) -> Result<(), Errno> {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match fs::remove_dir_all(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) && std::time::Instant::now() < give_up => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(errno_of(&e)),
        }
    }
}

/// Remove a tree in place (a temporary copy nobody else sees).
pub fn discard(path: &Path) {
    let _ = fs::remove_dir_all(path);
}

/// renameat2(2) through the raw system call, which works with any libc.
fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> Result<(), Errno> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let cfrom = CString::new(from.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let cto = CString::new(to.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: both strings are valid NUL-terminated paths.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            cfrom.as_ptr(),
            libc::AT_FDCWD,
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

/// Swap the trees at `a` and `b`, both of which must exist, at once:
/// renameat2(RENAME_EXCHANGE). Where the system or the filesystem lacks
/// it, `b` goes aside to `a`'s hidden sibling, then `a` into `b`'s place:
/// `b` is missing for that moment, but never half there.
pub fn exchange(a: &Path, b: &Path) -> Result<(), Errno> {
    match renameat2(a, b, libc::RENAME_EXCHANGE) {
        Err(Errno::EINVAL | Errno::ENOSYS) => {
            let aside = hidden_sibling(b, "exchange");
            fs::rename(b, &aside).map_err(|e| errno_of(&e))?;
            if let Err(e) = fs::rename(a, b) {
                let _ = fs::rename(&aside, b);
                return Err(errno_of(&e));
            }
            fs::rename(&aside, a).map_err(|e| errno_of(&e))
        }
        r => r,
    }
}

/// Rename `from` to `to` unless `to` exists (EEXIST then), with
/// renameat2(RENAME_NOREPLACE); filesystems without it get
/// mkdir-then-rename, where the empty directory made first is what
/// claims the name.
pub fn rename_noreplace(from: &Path, to: &Path) -> Result<(), Errno> {
    match renameat2(from, to, libc::RENAME_NOREPLACE) {
        Err(Errno::EINVAL | Errno::ENOSYS) => {
            nix::unistd::mkdir(to, Mode::S_IRWXU)?;
            fs::rename(from, to).map_err(|e| {
                let _ = fs::remove_dir(to);
                errno_of(&e)
            })
        }
        r => r,
    }
}

/// Copy the template to `dst`. A template replaced while it is copied
/// (s6i-template swaps it whole) would give a mix of both: then the copy
/// is made again, from the new one.
pub fn copy_template(template: &Path, dst: &Path) -> Result<(), Errno> {
    let which = |t: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(t).ok().map(|md| (md.dev(), md.ino()))
    };
    for attempt in 0.. {
        let before = which(template);
        copy_tree(template, dst)?;
        if which(template) == before || attempt == 4 {
            break;
        }
        discard(dst);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::leftover_pid;

    #[test]
    fn leftover_names() {
        assert_eq!(leftover_pid(b".s6i-clone:123:AbC-_9"), Some(123));
        assert_eq!(leftover_pid(b".s6i-remove:7:xxxxxx"), Some(7));
        for not in [
            &b".template"[..],
            b".s6i-clone:x:abcdef",
            b".s6i-clone:1:abc",
            b"s6i-clone:1:abcdef",
            b".s6i-clone:0:abcdef",
        ] {
            assert_eq!(leftover_pid(not), None, "{not:?}");
        }
    }
}
