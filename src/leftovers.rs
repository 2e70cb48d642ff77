//! What killed commands leave in `SV/instances/`, found without reading
//! the directory of every instance.
//!
//! Work in progress is kept under hidden names (`.s6i-TAG:PID:RANDOM`:
//! a copy being made, a tree being removed, an old copy of an upgrade).
//! Before a process makes such a name, it says so: an empty file named
//! by its pid in `SV/instances/.s6i-work/`, removed once its hidden work
//! is all done or undone. A process killed in between leaves its file
//! behind, with a pid that no longer runs: that, and only that, is when
//! the next command sweeps `instances/` (one look at `.s6i-work/`, which
//! holds only the files of commands under way or killed). Hidden trees
//! made before this file existed are swept with the first leftover of a
//! killed command. `.s6i-work/` itself goes whenever it is left empty.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::copy;
use crate::layout::Service;

/// The directory of the marks of work in progress, in `instances/`.
pub const WORK: &str = ".s6i-work";

/// How many pieces of hidden work this process has under way: its mark
/// stays while one is.
static UNDER_WAY: AtomicUsize = AtomicUsize::new(0);

/// Hidden work in `instances/` under way, said in `.s6i-work/PID` for as
/// long as this lives (the last one of the process removes the mark).
pub struct Working {
    mark: PathBuf,
}

/// Say that this process is about to make hidden names in `instances`.
/// Best effort: a mark that cannot be written (a full disk) only means
/// that what a kill leaves waits for a later sweep.
pub fn working(instances: &Path) -> Working {
    let work = instances.join(WORK);
    let mark = work.join(std::process::id().to_string());
    if UNDER_WAY.fetch_add(1, Ordering::SeqCst) == 0 {
        use std::os::unix::fs::DirBuilderExt;
        // The directory goes when it is left empty: another process may
        // remove it between our mkdir and our mark, so once more then.
        for _ in 0..3 {
            let _ = std::fs::DirBuilder::new().mode(0o700).create(&work);
            let made = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&mark);
            if !matches!(&made, Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
                break;
            }
        }
    }
    Working { mark }
}

/// Every hidden name this process made (copy::hidden_sibling), to tell
/// at the end of its work whether one was left behind (a removal that
/// failed): then the mark stays, for a sweep once the process is gone.
static HIDDEN: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Note a hidden name about to be made.
pub fn hidden(path: &Path) {
    HIDDEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.to_path_buf());
}

impl Drop for Working {
    fn drop(&mut self) {
        if UNDER_WAY.fetch_sub(1, Ordering::SeqCst) == 1 {
            let made: Vec<PathBuf> = std::mem::take(&mut *HIDDEN.lock().unwrap_or_else(|e| e.into_inner()));
            if made.iter().any(|p| std::fs::symlink_metadata(p).is_ok()) {
                return;
            }
            let _ = std::fs::remove_file(&self.mark);
            // Empty, it goes: `instances/` holds nothing of ours at rest.
            if let Some(work) = self.mark.parent() {
                let _ = std::fs::remove_dir(work);
            }
        }
    }
}

/// The marks among the entries of `instances/.s6i-work/` whose process
/// is gone.
fn dead_marks(entries: Vec<OsString>) -> Vec<OsString> {
    entries
        .into_iter()
        .filter(|n| {
            n.to_str()
                .and_then(|s| s.parse::<i32>().ok())
                .is_some_and(|pid| pid > 0 && copy::process_gone(pid))
        })
        .collect()
}

/// Remove what killed commands left in `instances/`, if one left
/// anything (else: one look at `.s6i-work/`). Copies whose process is
/// gone are removed; old trees aside where a supervisor still runs (a
/// killed upgrade's) are returned instead, for the caller to have them
/// stopped; a mark is removed once what its process left is gone.
pub fn sweep(service: &Service) -> Vec<PathBuf> {
    let instances = service.instances();
    let work = instances.join(WORK);
    let Ok(entries) = std::fs::read_dir(&work) else {
        return Vec::new();
    };
    let entries: Vec<OsString> = entries.flatten().map(|e| e.file_name()).collect();
    crate::restart::finish_killed(service, &work, &entries);
    let dead = dead_marks(entries);
    if dead.is_empty() {
        let _ = std::fs::remove_dir(&work);
        return Vec::new();
    }
    let running = copy::sweep_leftovers(&instances);
    if running.is_empty() {
        for mark in dead {
            let _ = std::fs::remove_file(instances.join(WORK).join(mark));
        }
        let _ = std::fs::remove_dir(instances.join(WORK));
    }
    running
}

/// `sweep`, and the scanner told to stop the supervisors of old trees
/// (it scans first, so it knows them gone before they exit; then it
/// signals every supervisor it has no link for); their trees are removed
/// by a later sweep, once they have gone. No wait: for create, delete
/// and sync.
pub fn finish(service: &Service) {
    if !sweep(service).is_empty() {
        let _ = crate::scandir::control(&service.scandir(), b"an");
    }
}
