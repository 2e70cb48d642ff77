//! s6i-summary: the status of every instance of an instanced service, one line each.

#![no_main]

#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: the C runtime's own argc and argv.
    unsafe { s6i::chain::main(&s6i::step::SUMMARY, argc, argv) }
}
