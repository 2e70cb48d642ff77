//! s6i-wait-supervise: have the nested scanner start a supervisor on a
//! linked instance, and wait until it runs.

#![no_main]

#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: the C runtime's own argc and argv.
    unsafe { s6i::chain::main(&s6i::step::WAIT_SUPERVISE, argc, argv) }
}
