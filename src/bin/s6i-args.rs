//! s6i-args: parse an execline script's own arguments (from the
//! environment) and substitute them, word for word, into the rest of
//! the script.

#![no_main]

#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: the C runtime's own argc and argv.
    unsafe { s6i::chain::main(&s6i::step::ARGS, argc, argv) }
}
