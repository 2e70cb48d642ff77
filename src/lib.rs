//! Dynamically instanced s6 services, as chainloading steps.
//!
//! The binaries in `src/bin` are thin: `chain` runs their step (in
//! `step`), which parses its command line and calls into the modules
//! below, each with one job, so that a question ("is a supervisor
//! running?", "what did a killed chain leave?") has one answer. From the
//! top down; a module calls only those below it (`wait`, which reads
//! the FIFOs of `fifo` and `fifodir`, stands above those two):
//!
//! - running steps: `chain`, `step`, `args`, `getopt`;
//! - what the commands do to instances: `create` (which calls `delete`
//!   to finish a killed delete), `delete`, `recover` (what dead
//!   commands' intent logs say, finished or undone), `pending` (the
//!   marks of chains under way), `restart` (down then up, for sync),
//!   `upgrade`, `maker`, `envdir`, `manifest`;
//! - trees under `SV/instances/`: `copy`, `rename`, `leftovers`,
//!   `journal` (this command's intent log, and whose logs are alive),
//!   `work`;
//! - s6's objects: `layout` (the instanced service), `scandir`,
//!   `supervise`, `svstatus`, `svwait`, `fifodir`, `fifo`, `lock`,
//!   `name`, `release`;
//! - the process itself: `wait` (every wait), `signals` (every change
//!   to signal state), `random`, and `diag` (messages and exit codes,
//!   knowing nothing else);
//! - the filesystem: `door`, the only module that reaches files by
//!   path; every other works on the places and descriptors it hands out
//!   (`work` is our root-only `.s6i-work` among them).

pub mod args;
pub mod chain;
pub mod copy;
pub mod create;
pub mod delete;
pub mod diag;
pub mod door;
pub mod envdir;
pub mod fifo;
pub mod fifodir;
pub mod getopt;
pub mod interrupt;
pub mod journal;
pub mod layout;
pub mod leftovers;
pub mod lock;
pub mod maker;
pub mod manifest;
pub mod name;
pub mod pending;
pub mod random;
pub mod recover;
pub mod release;
pub mod rename;
pub mod restart;
pub mod scandir;
pub mod signals;
pub mod step;
pub mod supervise;
pub mod svstatus;
pub mod svwait;
pub mod upgrade;
pub mod wait;
pub mod work;
