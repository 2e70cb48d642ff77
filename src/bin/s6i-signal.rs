//! s6i-signal: send s6-svc commands to an instance's supervisor, and
//! optionally wait until the instance reaches a state.

#![no_main]

#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: the C runtime's own argc and argv.
    unsafe { s6i::chain::main(&s6i::step::SIGNAL, argc, argv) }
}
