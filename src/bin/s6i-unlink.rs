//! s6i-unlink: take an instance out of the nested scan directory and
//! wait for its supervisor to exit.

#![no_main]

#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: the C runtime's own argc and argv.
    unsafe { s6i::chain::main(&s6i::step::UNLINK, argc, argv) }
}
