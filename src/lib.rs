//! Dynamically instanced s6 services, as chainloading steps.
//!
//! The binaries in `src/bin` are thin: they parse their command line and
//! call into these modules, one per object that s6 keeps on disk.

pub mod args;
pub mod chain;
pub mod copy;
pub mod create;
pub mod delete;
pub mod diag;
pub mod envdir;
pub mod fifo;
pub mod fifodir;
pub mod getopt;
pub mod layout;
pub mod leftovers;
pub mod lock;
pub mod maker;
pub mod manifest;
pub mod name;
pub mod pending;
pub mod random;
pub mod release;
pub mod rename;
pub mod scandir;
pub mod signals;
pub mod step;
pub mod supervise;
pub mod svstatus;
pub mod svwait;
pub mod upgrade;
pub mod wait;
