//! s6i-make: write an instanced service directory from a template (or
//! s6-rc source definitions for one), whole or not at all, then chain.

#![no_main]

#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: the C runtime's own argc and argv.
    unsafe { s6i::chain::main(&s6i::step::MAKE, argc, argv) }
}
