//! s6i-args: parse an execline script's own arguments (from the
//! environment) and substitute them, word for word, into the rest of
//! the script.

fn main() {
    s6i::diag::run(&s6i::step::ARGS)
}
