//! A service directory and its s6-supervise: `DIR/supervise/lock` says
//! whether the supervisor runs, `DIR/supervise/control` takes the s6-svc
//! letters, `DIR/event` is the fifodir where it announces events.

use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::{fifo, lock};

pub fn lockfile(svdir: &Path) -> PathBuf {
    svdir.join("supervise").join("lock")
}

pub fn control_fifo(svdir: &Path) -> PathBuf {
    svdir.join("supervise").join("control")
}

pub fn eventdir(svdir: &Path) -> PathBuf {
    svdir.join("event")
}

/// Whether an s6-supervise runs on `svdir`; a missing lock means no.
pub fn is_running(svdir: &Path) -> Result<bool, Errno> {
    match lock::held(&lockfile(svdir)) {
        Err(Errno::ENOENT) => Ok(false),
        r => r,
    }
}

/// Send s6-svc command letters. Ok(false) when no supervisor listens.
pub fn control(svdir: &Path, cmd: &[u8]) -> Result<bool, Errno> {
    match fifo::send(&control_fifo(svdir), cmd) {
        Err(Errno::ENOENT) => Ok(false),
        r => r,
    }
}

/// The service directory and, when it has one, its logger `log/`: the
/// directories that get an s6-supervise each once linked into a scandir.
pub fn with_logger(svdir: &Path) -> Result<Vec<PathBuf>, Errno> {
    let log = svdir.join("log");
    match std::fs::metadata(&log) {
        Ok(md) if md.is_dir() => Ok(vec![svdir.to_path_buf(), log]),
        Ok(_) => Err(Errno::ENOTDIR),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![svdir.to_path_buf()]),
        Err(e) => Err(crate::diag::errno_of(&e)),
    }
}
