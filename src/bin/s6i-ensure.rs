//! s6i-ensure: check that an instanced service is live, and, for a
//! create, that it has a template and an `instances/` directory.

#![no_main]

#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: the C runtime's own argc and argv.
    unsafe { s6i::chain::main(&s6i::step::ENSURE, argc, argv) }
}
